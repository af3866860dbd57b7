"""On PostgreSQL a webhook is stored in one statement (plugin/intake.py store_at_once); SQLite runs the same parts
one after the other (store_one_by_one). Both must leave the same rows and give the same answers, for any sequence
of events a helpdesk may send: generated here (seeded by Hypothesis, printed on failure), both ways, compared."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from plugin import intake
from plugin.accounts import update_account
from plugin.events import IGNORED, REOPENED, SOLVED, Person, TicketEvent
from plugin.models import Account, SignatureCheck, Survey, TicketAgent, Unsubscribe, WebhookEvent
from plugin.services import services
from tests.conftest import Helpdesk

pytestmark = pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="the one statement is PostgreSQL's"
)

TICKETS = ("T-1", "T-2", "T-3")
REQUESTERS = ("casey@shop.test", "robin@shop.test", "gone@shop.test", "noreply@shop.test", "", "casey@acme.test")
AGENTS = ("alex@acme.test", "sam@acme.test", "", " Alex@Acme.test ")

steps = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from((SOLVED, SOLVED, REOPENED, IGNORED)),
            "ticket": st.sampled_from(TICKETS),
            "requester": st.sampled_from(REQUESTERS),
            "agent": st.sampled_from(AGENTS),
            "tags": st.lists(st.sampled_from(("vip", "billing", "VIP")), max_size=2),
            "helpdesk_reason": st.sampled_from((None, None, "helpdesk_survey")),
            "repeat": st.none() | st.integers(min_value=0, max_value=20),  # the dedupe key of an earlier step
            "minutes_later": st.integers(min_value=0, max_value=60 * 24 * 10),
        }
    ),
    min_size=1,
    max_size=10,
)
accounts = st.fixed_dictionaries(
    {
        "throttle_days": st.sampled_from((0, 7)),
        "delay_minutes": st.sampled_from((0, 30)),
        "options": st.fixed_dictionaries(
            {
                "exclude_tags": st.sampled_from(("", "vip")),
                "internal_domains": st.sampled_from(("", "acme.test")),
                "sample_percent": st.sampled_from(("100", "50", "0")),
            }
        ),
        "held": st.sets(st.tuples(st.sampled_from(TICKETS), st.sampled_from(AGENTS[:2])), max_size=3),
    }
)


@pytest.fixture
def account(app, client):
    return Helpdesk(app, client, None).account


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(setup=accounts, events=steps)
def test_one_statement_and_one_by_one_store_the_same(account, clock, setup, events):
    at_once = _run(account, clock, setup, events, intake.store_at_once)
    one_by_one = _run(account, clock, setup, events, intake.store_one_by_one)
    assert at_once == one_by_one


def _run(account: Account, clock, setup: dict, events: list[dict], store) -> tuple:
    """Every step's answer and then every row the steps left, from a fresh start with this account's settings."""
    s = services()
    start = s.clock()
    with s.db.session() as session:
        session.execute(text("TRUNCATE signature_checks, ticket_agents, surveys, webhook_events, unsubscribes CASCADE"))
        update_account(
            session,
            s.box,
            session.get(Account, account.id),
            throttle_days=setup["throttle_days"],
            delay_minutes=setup["delay_minutes"],
            options=setup["options"],
        )
        session.add(Unsubscribe(account_id=account.id, email="gone@shop.test"))
        for ticket, agent in sorted(setup["held"]):  # a signature-link rating held until an event names the pair
            held = Survey(account_id=account.id, ticket_id=ticket, agent_email=agent, channel="signature",
                          status="sent", requester_email="", scale="csat5", locale="en",
                          scheduled_at=start)  # fmt: skip
            session.add(held)
            session.flush()
            session.add(SignatureCheck(survey_id=held.id, account_id=account.id, ticket_id=ticket,
                                       agent_email=agent, status="unverified"))  # fmt: skip
    answers = []
    for number, step in enumerate(events):
        key = f"e-{step['repeat'] if step['repeat'] is not None and step['repeat'] < number else number}"
        event = TicketEvent(
            kind=step["kind"],
            dedupe_key=key,
            ticket_id=step["ticket"],
            requester=Person(email=step["requester"] or None),
            assignee=Person(email=step["agent"] or None),
            tags=tuple(step["tags"]),
            skip_reason=step["helpdesk_reason"],
        )
        now = start + timedelta(minutes=sum(e["minutes_later"] for e in events[: number + 1]))
        opened = s.db.statement_session if store is intake.store_at_once else s.db.session
        with opened() as session:
            fresh = session.get(Account, account.id)
            taken = intake.take_in(session, fresh, event, json.dumps({"n": number}).encode(), now, store=store)
        if taken.held_pair is not None:  # as the webhook route does, after the statement
            pair, at = taken.held_pair, now
            s.db.transaction(lambda session: intake.signature_checks.release(session, pair, at))  # noqa: B023
        survey = taken.survey
        answers.append((taken.duplicate, survey and (survey.status, survey.reason, survey.scheduled_at)))
    with s.db.session() as session:
        surveys = session.execute(
            select(
                Survey.ticket_id,
                Survey.status,
                Survey.reason,
                Survey.requester_email,
                Survey.agent_email,
                Survey.channel,
                Survey.scheduled_at,
            ).order_by(Survey.id)  # fmt: skip
        ).all()
        pairs = session.execute(select(TicketAgent.ticket_id, TicketAgent.agent_email).order_by(TicketAgent.id)).all()
        checks = session.execute(select(SignatureCheck.ticket_id, SignatureCheck.agent_email, SignatureCheck.status)
                                 .order_by(SignatureCheck.id)).all()  # fmt: skip
        stored = session.execute(select(WebhookEvent.dedupe_key, WebhookEvent.kind).order_by(WebhookEvent.id)).all()
    return answers, surveys, pairs, checks, stored
