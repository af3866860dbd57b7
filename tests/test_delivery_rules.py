"""Delivery rules: exclusions, sampling, throttle after a reopen; and a property test over event sequences."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from plugin.events import SOLVED, Person, TicketEvent
from plugin.models import Account, Survey, WebhookEvent
from plugin.services import services
from plugin.surveys import scheduling
from tests.conftest import Helpdesk


@pytest.fixture
def app_config(app_config):
    # The property test unsubscribes many times a minute from one test client: not what the rate limit is for.
    return {**app_config, "RATING_RATE_LIMIT": "100000 per minute"}


def _reasons(helpdesk: Helpdesk, ticket_id: str) -> list[tuple[str, str | None]]:
    surveys = helpdesk.api(f"/api/v1/surveys?ticket_id={ticket_id}").get_json()["surveys"]
    return [(s["status"], s["reason"]) for s in surveys]


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("noreply@shop.test", "no_reply_address"),
        ("no-reply+ticket@shop.test", "no_reply_address"),
        ("DoNotReply@shop.test", "no_reply_address"),
        ("mailer-daemon@shop.test", "no_reply_address"),
        ("bounces+abc@shop.test", "no_reply_address"),
        ("postmaster@shop.test", "no_reply_address"),
        ("alex@acme.test", "internal_address"),
        ("ops@eu.acme.test", "internal_address"),
        ("pat@acme.io", "internal_address"),
        ("", "no_requester_email"),
        ("nora@shop.test", None),
        ("replies@shop.test", None),
        ("pat@notacme.io", None),
    ],
)
def test_exclusions_are_recorded_with_their_reason(app, client, http_recorder, email, reason):
    helpdesk = Helpdesk(app, client, http_recorder.url, options={"internal_domains": "acme.test, acme.io"})
    assert helpdesk.post(helpdesk.event(ticket_id="T-1", email=email)).status_code == 202
    assert _reasons(helpdesk, "T-1") == [("skipped", reason) if reason else ("scheduled", None)]


def _event(ticket_id: str, email: str, tags: tuple[str, ...] = ()) -> TicketEvent:
    return TicketEvent(
        kind=SOLVED,
        dedupe_key=uuid.uuid4().hex,
        ticket_id=ticket_id,
        requester=Person(email=email, locale="de-DE"),
        assignee=Person(email="alex@acme.test"),
        tags=tags,
    )


def _schedule(account: Account, event: TicketEvent) -> Survey:
    s = services()
    with s.db.session() as session:
        row = WebhookEvent(account_id=account.id, dedupe_key=event.dedupe_key, kind="solved", ticket_id="x", body="{}")
        session.add(row)
        session.flush()
        outcome = scheduling.apply_event(session, session.get(Account, account.id), event, row, s.clock())
        return session.get(Survey, outcome.id)


def test_tag_based_exclusion_when_the_platform_sends_tags(app, client, http_recorder):
    account = Helpdesk(app, client, http_recorder.url, options={"exclude_tags": "VIP,no-survey"}).account
    assert _schedule(account, _event("T-1", "a@shop.test", ("billing", "No-Survey"))).reason == "excluded_tag"
    assert _schedule(account, _event("T-2", "b@shop.test", ("billing",))).status == "scheduled"
    assert _schedule(account, _event("T-3", "c@shop.test")).locale == "de"  # mapped from de-DE


def test_sampling_is_deterministic_per_ticket_and_near_the_percentage():
    options = {"sample_percent": "30"}
    picks = [scheduling.sampled("acct", f"T-{n}", options) for n in range(2000)]
    assert picks == [scheduling.sampled("acct", f"T-{n}", options) for n in range(2000)]  # same ticket, same answer
    assert 0.26 < sum(picks) / len(picks) < 0.34
    assert picks != [scheduling.sampled("other", f"T-{n}", options) for n in range(2000)]  # per account
    assert all(scheduling.sampled("acct", f"T-{n}", {}) for n in range(100))
    assert not any(scheduling.sampled("acct", f"T-{n}", {"sample_percent": "0"}) for n in range(100))
    assert scheduling.sample_percent({"sample_percent": "junk"}) == 100.0
    assert scheduling.sample_percent({"sample_percent": "150"}) == 100.0
    assert scheduling.sample_percent({"sample_percent": "12.5%"}) == 12.5


def test_unsampled_tickets_are_skipped_with_their_reason(app, client, http_recorder):
    helpdesk = Helpdesk(app, client, http_recorder.url, options={"sample_percent": "50"})
    key = helpdesk.account.key
    tickets = [f"T-{n}" for n in range(12)]
    for n, ticket in enumerate(tickets):
        helpdesk.post(helpdesk.event(ticket_id=ticket, email=f"c{n}@shop.test"))
    for ticket in tickets:
        expected = (
            ("scheduled", None)
            if scheduling.sampled(key, ticket, {"sample_percent": "50"})
            else (
                "skipped",
                "not_sampled",
            )
        )
        assert _reasons(helpdesk, ticket) == [expected]


def test_a_solve_after_a_reopen_surveys_again_only_outside_the_throttle(helpdesk, clock):
    helpdesk.post(helpdesk.event(ticket_id="T-1"))
    helpdesk.run_jobs()
    assert _reasons(helpdesk, "T-1") == [("sent", None)]
    helpdesk.post(helpdesk.event("ticket.reopened", ticket_id="T-1"))
    clock.advance(days=2)
    helpdesk.post(helpdesk.event(ticket_id="T-1"))
    helpdesk.run_jobs()
    assert _reasons(helpdesk, "T-1")[0] == ("skipped", "throttled")
    helpdesk.post(helpdesk.event("ticket.reopened", ticket_id="T-1"))
    clock.advance(days=6)  # 8 days after the first survey: outside the 7-day throttle
    helpdesk.post(helpdesk.event(ticket_id="T-1"))
    helpdesk.run_jobs()
    assert _reasons(helpdesk, "T-1")[0] == ("sent", None)


# -- property: no customer gets two surveys inside the throttle, none after unsubscribing, none for a reopened ticket

CUSTOMERS = ("ann@shop.test", "bo@shop.test")
TICKETS = {"T-1": CUSTOMERS[0], "T-2": CUSTOMERS[0], "T-3": CUSTOMERS[1]}
DELAY_MINUTES, THROTTLE_DAYS = 30, 1

steps = st.lists(
    st.one_of(
        st.tuples(st.just("solved"), st.sampled_from(sorted(TICKETS))),
        st.tuples(st.just("reopened"), st.sampled_from(sorted(TICKETS))),
        st.tuples(st.just("unsubscribe"), st.sampled_from(CUSTOMERS)),
        st.tuples(st.just("advance"), st.sampled_from((5, 20, 45, 300, 1000, 1500))),  # minutes
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_property_no_survey_inside_the_throttle_after_unsubscribing_or_for_a_reopened_ticket(
    app, client, http_recorder, clock, steps
):
    # A fresh account per example: throttle and unsubscribes are per account, so examples cannot see each other.
    helpdesk = Helpdesk(app, client, http_recorder.url, delay_minutes=DELAY_MINUTES, throttle_days=THROTTLE_DAYS)
    s, account_id = services(), helpdesk.account.id
    created_at_step: dict[int, int] = {}
    sent: dict[int, int] = {}  # survey id -> the step its email went out
    unsubscribed_at: dict[str, int] = {}
    reopened_at: dict[str, list[int]] = {ticket: [] for ticket in TICKETS}

    def run_sweep(step: int) -> None:
        helpdesk.run_jobs()
        with s.db.session() as session:
            for survey in session.scalars(select(Survey).where(Survey.account_id == account_id)):
                created_at_step.setdefault(survey.id, step)
                if survey.status == "sent":
                    sent.setdefault(survey.id, step)

    def advance(minutes: int, step: int) -> None:
        """Move the clock, running the sweep at every due time on the way, as the real sweep (every 5 s) would."""
        target = clock.now + timedelta(minutes=minutes)
        while True:
            with s.db.session() as session:
                due = session.scalar(
                    select(Survey.scheduled_at)
                    .where(Survey.account_id == account_id, Survey.status == "scheduled", Survey.scheduled_at <= target)
                    .order_by(Survey.scheduled_at)
                    .limit(1)
                )
            if due is None:
                break
            clock.now = max(clock.now, due)
            run_sweep(step)
        clock.now = target
        run_sweep(step)

    for step, (action, value) in enumerate(steps):
        if action == "solved":
            assert helpdesk.post(helpdesk.event(ticket_id=value, email=TICKETS[value])).status_code == 202
        elif action == "reopened":
            assert helpdesk.post(helpdesk.event("ticket.reopened", ticket_id=value)).status_code == 202
            reopened_at[value].append(step)
        elif action == "unsubscribe":
            token = s.tokens.unsubscribe(account_id, value)
            assert client.post(f"/unsubscribe/{token}").status_code == 200
            unsubscribed_at.setdefault(value, step)
        else:
            advance(value, step)
        run_sweep(step)
    advance(2 * DELAY_MINUTES, len(steps))

    with s.db.session() as session:
        surveys = {row.id: row for row in session.scalars(select(Survey).where(Survey.account_id == account_id))}
    by_customer: dict[str, list] = {}
    for survey_id, step in sent.items():
        survey = surveys[survey_id]
        by_customer.setdefault(survey.requester_email, []).append(survey.sent_at)
        # None after unsubscribing.
        assert step <= unsubscribed_at.get(survey.requester_email, step), f"{survey.requester_email} unsubscribed"
        # None for a ticket reopened after this survey's solve and before it went out.
        reopened = [r for r in reopened_at[survey.ticket_id] if created_at_step[survey_id] <= r < step]
        assert not reopened, f"survey {survey_id} sent although {survey.ticket_id} was reopened"
    # Never two inside the throttle.
    for times in by_customer.values():
        times.sort()
        for earlier, later in zip(times, times[1:], strict=False):
            assert later - earlier >= timedelta(days=THROTTLE_DAYS)
