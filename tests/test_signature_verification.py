"""Signature-link ratings on a ticket the helpdesk has not confirmed are held: kept, shown to the admin, in no figure,
never written back, alerted or sent out, until the helpdesk names that ticket with that agent; then released once.

The attacker holds one email from an agent (so one valid agent token) and types any ticket number into the link.
"""

from __future__ import annotations

import os
import random
import re
import string

import pytest
from sqlalchemy import func, select

from plugin import signature
from plugin.models import Account, Alert, OutboundWebhook, Rating, Survey, WebhookDelivery, WriteBack
from plugin.services import services
from plugin.sidebar import view as sidebar_view
from tests.conftest import BROWSER_HEADERS, nonce_of, run_jobs
from tests.emulators.zendesk import ZendeskEmulator

AGENT = "alex@acme.test"
SEED = int(os.environ.get("OPENCSAT_TEST_SEED", random.randrange(1 << 30)))


def _link(helpdesk, score: int, ticket: str, agent: str = AGENT) -> str:
    s = services()
    urls = signature.links(helpdesk.account, agent, s.tokens, s.settings.public_url, "{ticket_id}")
    return dict((p.score, u) for p, u in urls)[score].removeprefix(s.settings.public_url).replace("{ticket_id}", ticket)


def _rate(client, clock, url: str, score: int, comment: str = ""):
    """Click the signature link, then confirm on the page with a comment, as a person (or a forger) would."""
    first = client.get(url, headers=BROWSER_HEADERS)
    assert first.status_code == 303, first.get_data(as_text=True)
    location = first.headers["Location"]
    clock.advance(minutes=2)
    page = client.get(location, headers=BROWSER_HEADERS)
    answer = client.post(
        location,
        data={"nonce": nonce_of(page.get_data(as_text=True)), "score": str(score), "comment": comment},
        headers=BROWSER_HEADERS,
    )
    assert answer.status_code in (200, 303)
    return location


@pytest.fixture
def watched(helpdesk, http_recorder):
    """The account alerts by email on every rating below 4 and has one outbound webhook: both must stay silent."""
    s = services()
    with s.db.session() as session:
        account = session.get(Account, helpdesk.account.id)
        account.options = {**(account.options or {}), "alert_emails": "lead@acme.test", "alert_threshold": "4"}
        session.add(
            OutboundWebhook(
                account_id=account.id, url=http_recorder.url + "/hook", secret_encrypted=s.box.encrypt("whsec-out")
            )
        )
    return helpdesk


def _rows(model) -> int:
    with services().db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def _write_backs_sent(http_recorder) -> list:
    return [r for r in http_recorder.requests if r.path.startswith("/callback")]


def _forged_tickets(rng: random.Random, count: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    return [rng.choice(alphabet) + "".join(rng.choices(alphabet + "._-", k=rng.randrange(0, 20))) for _ in range(count)]


def test_forged_ratings_on_tickets_the_helpdesk_never_named_are_held(watched, client, clock, http_recorder):
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    tickets = _forged_tickets(rng, 6)
    for ticket in tickets:
        _rate(client, clock, _link(watched, rng.randint(1, 5), ticket), rng.randint(1, 2), "<b>call me</b> 555-0100")
        clock.advance(minutes=rng.randint(1, 120))
    clock.advance(hours=1)
    watched.run_jobs()

    with services().db.session() as session:
        ratings = session.scalars(select(Rating)).all()
        assert len(ratings) == len(set(tickets))
        assert {r.status for r in ratings} == {"unverified"}
        assert session.scalar(select(func.count()).select_from(WriteBack).where(WriteBack.status != "held")) == 0
    assert _rows(Alert) == 0 and _rows(WebhookDelivery) == 0
    assert _write_backs_sent(http_recorder) == [] and not [r for r in http_recorder.requests if r.path == "/hook"]
    # In no figure: the API's agents and ratings, the sidebar's ticket panel.
    agents = watched.api("/api/v1/agents").get_json()["agents"]
    assert all(a["responses"] == 0 for a in agents)
    assert watched.api("/api/v1/ratings").get_json()["ratings"] == []
    with services().db.session() as session:
        panel = sidebar_view.ticket_ratings(session, watched.account.id, tickets[0])
        assert [entry.score for entry in panel] == [None]
    # The admin sees every one of them, with the reason.
    held = watched.api("/api/v1/signature-ratings").get_json()["ratings"]
    assert sorted(r["ticket_id"] for r in held) == sorted(set(tickets))
    assert all(r["status"] == "unverified" and "has not confirmed" in r["reason"] for r in held)


def test_an_event_naming_the_agent_releases_the_rating_exactly_once(watched, client, clock, http_recorder):
    _rate(client, clock, _link(watched, 1, "T-77"), 1, "slow")
    watched.run_jobs()
    assert _write_backs_sent(http_recorder) == [] and _rows(Alert) == 0

    # The helpdesk now says ticket T-77 exists and is assigned to the agent (twice: a retry, then another event).
    for _ in range(2):
        assert watched.post(watched.event(ticket_id="T-77")).status_code in (200, 202)
        clock.advance(minutes=1)
        watched.run_jobs()
    with services().db.session() as session:
        rating = session.scalar(select(Rating).join(Survey).where(Survey.channel == "signature"))
        assert (rating.status, rating.score, rating.comment) == ("counted", 1, "slow")
        assert session.scalar(select(func.count()).select_from(Alert).where(Alert.rating_id == rating.id)) == 1
        deliveries = session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.rating_id == rating.id)
        )
        assert deliveries == 1
    notes = [r for r in _write_backs_sent(http_recorder) if b"slow" in r.body]
    assert len(notes) == 1
    listed = watched.api("/api/v1/ratings?ticket_id=T-77").get_json()["ratings"]
    assert [(r["score"], r["status"]) for r in listed] == [(1, "counted")]
    assert watched.api("/api/v1/signature-ratings").get_json()["ratings"] == []


def test_the_first_event_naming_the_agent_releases_the_rating(watched, client, clock, http_recorder):
    """The webhook's one-statement path (a new agent on the ticket) must still see the rating held for them."""
    _rate(client, clock, _link(watched, 1, "T-78"), 2, "late")
    watched.run_jobs()
    assert watched.post(watched.event(ticket_id="T-78")).status_code == 202  # once, no retry
    with services().db.session() as session:
        rating = session.scalar(select(Rating).join(Survey).where(Survey.channel == "signature"))
        assert (rating.status, rating.score) == ("counted", 2)


def test_an_event_naming_another_agent_confirms_nothing(watched, client, clock, http_recorder):
    _rate(client, clock, _link(watched, 5, "T-78"), 5)
    event = watched.event(ticket_id="T-78")
    event["assignee"] = {"id": "8", "email": "sam@acme.test", "name": "Sam"}
    watched.post(event)
    watched.run_jobs()
    with services().db.session() as session:
        rating = session.scalar(select(Rating).join(Survey).where(Survey.channel == "signature"))
        assert rating.status == "unverified"
    assert _write_backs_sent(http_recorder) == []


def test_a_ticket_the_helpdesk_named_before_the_click_counts_at_once(watched, client, clock, http_recorder):
    watched.post(watched.event(ticket_id="T-79"))
    watched.run_jobs()
    _rate(client, clock, _link(watched, 4, "T-79"), 4, "thanks")
    watched.run_jobs()
    with services().db.session() as session:
        rating = session.scalar(select(Rating).join(Survey).where(Survey.channel == "signature"))
        assert rating.status == "counted"
    assert len([r for r in _write_backs_sent(http_recorder) if b"thanks" in r.body]) == 1


def test_new_unverified_tickets_per_agent_token_are_capped_per_day(helpdesk, client, clock):
    with services().db.session() as session:
        session.get(Account, helpdesk.account.id).options = {"signature_daily_cap": "3"}
    for n in range(3):
        assert client.get(_link(helpdesk, 5, f"N-{n}"), headers=BROWSER_HEADERS).status_code == 303
    refused = client.get(_link(helpdesk, 5, "N-3"), headers=BROWSER_HEADERS)
    assert refused.status_code == 429
    assert "too many" in refused.get_data(as_text=True).lower()
    # An existing ticket still works; another agent has a cap of their own; the refusal is kept as an event.
    assert client.get(_link(helpdesk, 4, "N-0"), headers=BROWSER_HEADERS).status_code == 303
    assert client.get(_link(helpdesk, 4, "N-3", agent="sam@acme.test"), headers=BROWSER_HEADERS).status_code == 303
    held = helpdesk.api("/api/v1/signature-ratings").get_json()
    assert [(r["ticket_id"], r["agent_email"]) for r in held["refused"]] == [("N-3", AGENT)]
    with services().db.session() as session:
        assert session.scalar(select(func.count()).select_from(Survey)) == 4
    clock.advance(hours=24, minutes=1)
    assert client.get(_link(helpdesk, 5, "N-3"), headers=BROWSER_HEADERS).status_code == 303


@pytest.fixture
def zendesk():
    with ZendeskEmulator() as emulator:
        emulator.add_user(501, AGENT, "Alex Agent", role="agent")
        emulator.add_user(502, "sam@acme.test", "Sam Agent", role="agent")
        emulator.add_user(9001, "dana@customer.test", "Dana Customer")
        emulator.add_ticket(4711, requester_id=9001, assignee_id=501)
        emulator.add_ticket(4712, requester_id=9001, assignee_id=502)
        yield emulator


@pytest.fixture
def zendesk_account(app, zendesk):
    from plugin.accounts import create_account

    s = services()
    with s.db.session() as session:
        created = create_account(
            session,
            s.box,
            platform="zendesk",
            name="Acme on Zendesk",
            webhook_secret="c2VjcmV0",
            api_url=zendesk.url,
            api_user=zendesk.email,
            api_token=zendesk.api_token,
        )
    return created


def _zendesk_link(account, score: int, ticket: str) -> str:
    s = services()
    urls = signature.links(account, AGENT, s.tokens, s.settings.public_url, "{ticket_id}")
    return dict((p.score, u) for p, u in urls)[score].removeprefix(s.settings.public_url).replace("{ticket_id}", ticket)


def test_zendesk_confirms_through_its_api_in_a_job(zendesk_account, zendesk, client, clock):
    account = zendesk_account.account
    _rate(client, clock, _zendesk_link(account, 2, "4711"), 2, "ok")  # Alex's ticket
    _rate(client, clock, _zendesk_link(account, 1, "4712"), 1, "forged")  # Sam's ticket
    _rate(client, clock, _zendesk_link(account, 1, "999999"), 1, "forged")  # no such ticket
    for _ in range(3):
        run_jobs()
        clock.advance(minutes=5)
    with services().db.session() as session:
        by_ticket = {r.survey.ticket_id: r.status for r in session.scalars(select(Rating))}
    assert by_ticket == {"4711": "counted", "4712": "unverified", "999999": "unverified"}
    notes = [c for c in zendesk.calls_to("PUT") if re.search(r"/tickets/\d+$", c.path)]
    assert [c.path.rsplit("/", 1)[1] for c in notes] == ["4711"]
    held = client.get("/api/v1/signature-ratings", headers={"Authorization": f"Bearer {zendesk_account.api_key}"})
    reasons = {r["ticket_id"]: r["reason"] for r in held.get_json()["ratings"]}
    assert "assigned to another agent" in reasons["4712"] and "does not know" in reasons["999999"]


def test_the_admin_page_shows_held_ratings_with_the_reason(watched, client, clock):
    from plugin.admin.users import create_admin
    from tests.admin.conftest import PASSWORD, sign_in

    _rate(client, clock, _link(watched, 1, "FORGED-1"), 1, "stranger's text")
    with services().db.session() as session:
        create_admin(session, session.get(Account, watched.account.id), "boss@acme.test", PASSWORD)
    sign_in(client, "boss@acme.test")
    html = client.get("/admin/sidebar").get_data(as_text=True)
    assert "FORGED-1" in html and "stranger&#39;s text" in html and "has not confirmed that ticket FORGED-1" in html


def test_signature_surveys_from_before_the_checks_are_grandfathered(tmp_path):
    """The migration keeps earlier signature ratings counting; any signature survey without a check is held."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from plugin.cli import alembic_config

    url = f"sqlite:///{tmp_path / 'sidebar-migration.sqlite3'}"
    command.upgrade(alembic_config(url), "0009")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, key, name, platform, api_key_hash, locale, scale, delay_minutes,"
                " throttle_days, settle_minutes, edit_days, options, created_at) VALUES (1, 'k', 'A', 'generic',"
                " 'h', 'en', 'csat5', 0, 7, 10, 7, '{}', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO surveys (id, account_id, ticket_id, ticket_subject, requester_email, requester_name,"
                " locale, agent_email, scale, status, scheduled_at, attempts, created_at, channel) VALUES"
                " (7, 1, 'OLD-1', '', '', '', 'en', 'alex@acme.test', 'csat5', 'sent', '2026-01-01 00:00:00', 0,"
                " '2026-01-01 00:00:00', 'signature')"
            )
        )
    command.upgrade(alembic_config(url), "heads")
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT survey_id, status FROM signature_checks")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(7, "verified")]


def test_a_lookup_the_helpdesk_refuses_keeps_the_rating_held_and_says_only_its_status(
    zendesk_account, zendesk, client, clock
):
    zendesk.fail_next(403, body={"error": "Forbidden", "description": "internal-host.acme.local secret detail"})
    _rate(client, clock, _zendesk_link(zendesk_account.account, 2, "4711"), 2, "ok")
    run_jobs()
    auth = {"Authorization": f"Bearer {zendesk_account.api_key}"}
    (held,) = client.get("/api/v1/signature-ratings", headers=auth).get_json()["ratings"]
    assert "(lookup: HTTP 403)" in held["reason"] and "secret detail" not in held["reason"]
    # Still held: nothing counted, nothing written back.
    with services().db.session() as session:
        assert session.scalar(select(Rating.status)) == "unverified"
