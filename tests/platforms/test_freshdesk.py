"""Freshdesk: rule webhooks with a secret header in, write-backs observed at a Freshdesk emulator."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from plugin.services import services
from tests.emulators.freshdesk import FreshdeskEmulator
from tests.platforms.support import (
    PlatformAccount,
    fixture_loader,
    latest_survey,
    latest_write_back,
    make_write_backs_due,
)
from tests.support.sms import twilio_for

SECRET = "fd-hook-secret-8c1d2e"
API_KEY = "fd-api-key"
fixture = fixture_loader("freshdesk", changes_to="freshdesk_webhook")


@pytest.fixture
def freshdesk():
    with FreshdeskEmulator(api_key=API_KEY) as emulator:
        emulator.add_ticket(11, tags=["billing", "vip"])
        emulator.add_ticket(12, status=5)
        yield emulator


class Desk(PlatformAccount):
    """One Freshdesk account pointed at the emulator; posts rule webhooks with the secret header."""

    def __init__(self, client, freshdesk: FreshdeskEmulator, smtp_server, *, api_key: str = API_KEY, **settings):
        super().__init__(
            client,
            "freshdesk",
            smtp_server,
            name="Acme on Freshdesk",
            webhook_secret=SECRET,
            api_url=freshdesk.url,
            api_token=api_key,
            options={"custom_field": "cf_csat_score"},
            **settings,
        )
        self.freshdesk = freshdesk

    def post(self, payload: dict | bytes, *, secret: str | None = SECRET):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-OpenCSAT-Secret"] = secret
        return self.client.post(self.url, data=body, headers=headers)


@pytest.fixture
def desk(app, client, freshdesk, smtp_server):
    return Desk(client, freshdesk, smtp_server)


BASIC = "Basic " + base64.b64encode(f"{API_KEY}:X".encode()).decode()


# --- events in ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, ticket_id", [("rule_resolved.json", "11"), ("rule_closed.json", "12")])
def test_resolved_and_closed_both_schedule_a_survey(desk, name, ticket_id):
    response = desk.post(fixture(name))
    assert response.status_code == 202
    assert response.get_json()["survey"]["status"] == "scheduled"
    assert desk.freshdesk.calls == []  # nothing slow inside the request


def test_the_agent_at_solve_time_and_the_requester_are_kept(desk):
    desk.post(fixture("rule_resolved.json"))
    survey = latest_survey("11")
    assert (survey.requester_email, survey.requester_name) == ("requester-bob@example.com", "Requester Bob")
    assert (survey.agent_email, survey.agent_name, survey.team) == ("sam@acme.test", "Sam Agent", "Billing")
    assert survey.ticket_url == "https://acme.freshdesk.com/helpdesk/tickets/11"


@pytest.mark.parametrize("secret", [None, "", "fd-hook-secret-WRONG"])
def test_wrong_or_missing_secret_header_is_401(desk, secret):
    response = desk.post(fixture("rule_resolved.json"), secret=secret)
    assert response.status_code == 401
    assert "X-OpenCSAT-Secret" in response.get_json()["message"]
    assert latest_survey("11") is None


def test_a_repeated_delivery_is_a_duplicate_and_sends_one_survey(desk, smtp_server):
    answers = [desk.post(fixture("rule_resolved.json")).status_code for _ in range(3)]
    desk.run_jobs()
    desk.run_jobs()
    assert answers == [202, 200, 200]
    assert [m["To"] for m in smtp_server.messages] == ["Requester Bob <requester-bob@example.com>"]


def test_a_later_solve_of_the_same_ticket_is_a_new_event(desk):
    first = desk.post(fixture("rule_resolved.json"))
    again = desk.post(fixture("rule_resolved.json", ticket_updated_at="2026-11-30T09:00:00Z"))
    assert (first.status_code, again.status_code) == (202, 202)


# {{ticket.updated_at}} is in none of Freshdesk's placeholder lists: it may render empty, stay unrendered, or be
# left out of the body (the guide no longer asks for it). A re-solve must still be a new event.
UNRENDERED = ["", "{{ticket.updated_at}}", None]


def _without_update_time(name: str, value: str | None) -> dict:
    body = fixture(name)
    if value is None:
        del body["freshdesk_webhook"]["ticket_updated_at"]
    else:
        body["freshdesk_webhook"]["ticket_updated_at"] = value
    return body


@pytest.mark.parametrize("value", UNRENDERED)
def test_resolved_reopened_resolved_is_not_swallowed_when_updated_at_renders_empty(
    app, client, freshdesk, smtp_server, clock, value
):
    desk = Desk(client, freshdesk, smtp_server, delay_minutes=60)
    assert desk.post(_without_update_time("rule_resolved.json", value)).status_code == 202
    clock.advance(minutes=7)
    assert desk.post(_without_update_time("rule_reopened.json", value)).status_code == 202
    clock.advance(minutes=9)
    second = desk.post(_without_update_time("rule_resolved.json", value))
    assert (second.status_code, second.get_json()["status"]) == (202, "accepted")
    desk.run_jobs()
    assert [s.status for s in _surveys("11")] == ["cancelled", "scheduled"]


@pytest.mark.parametrize("value", UNRENDERED)
def test_a_repeated_delivery_without_updated_at_is_still_a_duplicate(desk, smtp_server, value):
    answers = [desk.post(_without_update_time("rule_resolved.json", value)).status_code for _ in range(3)]
    desk.run_jobs()
    assert answers == [202, 200, 200]
    assert len(smtp_server.messages) == 1


def _surveys(ticket_id: str) -> list:
    from sqlalchemy import select

    from plugin.models import Survey

    with services().db.session() as session:
        return list(session.scalars(select(Survey).where(Survey.ticket_id == ticket_id).order_by(Survey.id)))


def test_reopen_cancels_the_unsent_survey(app, client, freshdesk, smtp_server):
    desk = Desk(client, freshdesk, smtp_server, delay_minutes=60)
    desk.post(fixture("rule_resolved.json"))
    assert desk.post(fixture("rule_reopened.json")).status_code == 202
    desk.run_jobs()
    assert latest_survey("11").status == "cancelled"
    assert smtp_server.messages == []


def test_zulips_recorded_body_leaving_resolved_is_a_reopen(desk):
    response = desk.post(fixture("zulip_status_changed.json"))
    assert (response.status_code, response.get_json()["event"]) == (202, "reopened")


def test_other_changes_are_acknowledged_and_ignored(desk):
    response = desk.post(fixture("rule_priority_changed.json"))
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")
    assert latest_survey("11") is None


def test_status_label_is_used_when_the_rule_sends_no_triggered_event(desk):
    response = desk.post(fixture("rule_resolved.json", triggered_event=""))
    assert (response.status_code, response.get_json()["event"]) == (202, "solved")


@pytest.mark.parametrize("body", [b"{not json", b'{"ticket_id": 11}', b'{"freshdesk_webhook": {"ticket_id": ""}}'])
def test_malformed_bodies_are_400(desk, body):
    response = desk.post(body)
    assert response.status_code == 400


# --- ratings out -------------------------------------------------------------------------------------------------


def _solved_and_rated(desk, score: int, comment: str = "", name: str = "rule_resolved.json") -> None:
    desk.post(fixture(name))
    desk.run_jobs()
    desk.rate(score, comment)
    desk.run_jobs()


def test_write_back_makes_exactly_the_expected_requests(desk, freshdesk):
    _solved_and_rated(desk, 4, "Fixed <quickly> & well")
    calls = freshdesk.calls
    assert [(c.method, c.path) for c in calls] == [
        ("GET", "/api/v2/tickets/11"),
        ("PUT", "/api/v2/tickets/11"),
        ("POST", "/api/v2/tickets/11/notes"),
    ]
    assert {c.authorization for c in calls} == {BASIC}
    assert calls[1].body == {"tags": ["billing", "vip", "csat_4_of_5"], "custom_fields": {"cf_csat_score": 4}}
    note = calls[2].body
    assert note["private"] is True
    assert note["body"].startswith("Customer rating: 4/5")
    assert "Comment: Fixed &lt;quickly&gt; &amp; well<br>" in note["body"]
    ticket = freshdesk.tickets[11]
    assert ticket.tags == ["billing", "vip", "csat_4_of_5"]
    assert ticket.custom_fields == {"cf_csat_score": 4}
    assert [n["private"] for n in ticket.notes] == [True]
    assert latest_write_back().status == "delivered"


def test_a_changed_rating_replaces_only_our_tag(desk, freshdesk):
    _solved_and_rated(desk, 5)
    freshdesk.tickets[11].tags.append("escalated")  # someone tagged the ticket meanwhile
    desk.rate(1)
    desk.run_jobs()
    put = [c for c in freshdesk.calls if c.method == "PUT"][-1]
    assert put.body["tags"] == ["billing", "vip", "escalated", "csat_1_of_5"]
    assert freshdesk.tickets[11].tags == ["billing", "vip", "escalated", "csat_1_of_5"]
    assert len(freshdesk.tickets[11].notes) == 2


def test_429_waits_for_retry_after_then_delivers(desk, freshdesk):
    freshdesk.fail_next(429, retry_after=90)
    _solved_and_rated(desk, 3)
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1)
    assert wb.next_attempt_at >= services().clock() + timedelta(seconds=85)
    desk.run_jobs()
    assert len(freshdesk.calls) == 1  # not due yet: nothing sent
    make_write_backs_due()
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert freshdesk.tickets[11].tags[-1] == "csat_3_of_5"


def test_server_error_on_the_note_is_retried_and_the_note_written_once(desk, freshdesk):
    desk.post(fixture("rule_resolved.json"))
    desk.run_jobs()
    freshdesk.fail_next(500, after=2)  # GET and PUT pass, the note fails
    desk.rate(4)
    desk.run_jobs()
    wb = latest_write_back()
    assert wb.status == "pending" and "HTTP 500" in wb.last_error
    make_write_backs_due()
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert len(freshdesk.tickets[11].notes) == 1
    assert freshdesk.tickets[11].tags == ["billing", "vip", "csat_4_of_5"]
    # The retry repeats the idempotent GET and PUT (tags and custom field) and writes the note once.
    assert [c.method for c in freshdesk.calls] == ["GET", "PUT", "POST", "GET", "PUT", "POST"]


def test_wrong_api_key_is_parked_with_freshdesks_error_text(app, client, freshdesk, smtp_server):
    desk = Desk(client, freshdesk, smtp_server, api_key="not-the-key")
    _solved_and_rated(desk, 4)
    parked = desk.api("/api/v1/write-backs?status=parked").get_json()["write_backs"]
    assert len(parked) == 1
    assert "HTTP 401" in parked[0]["last_error"]  # never the body (security.md)


def test_unknown_custom_field_is_parked_with_freshdesks_validation_text(desk, freshdesk):
    freshdesk.field_names.clear()
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert wb.status == "parked"
    assert "HTTP 400" in wb.last_error


# --- the whole loop, through the HTTP contract only --------------------------------------------------------------


def test_end_to_end_event_mail_click_confirm_write_back(desk, freshdesk, smtp_server):
    assert desk.post(fixture("rule_closed.json")).status_code == 202
    desk.run_jobs()
    (mail,) = smtp_server.messages
    assert mail["To"] == "Requester Ann <ann@example.com>"
    desk.rate(2, "Slow", message=mail)
    desk.run_jobs()
    assert [(c.method, c.path) for c in freshdesk.calls] == [
        ("GET", "/api/v2/tickets/12"),
        ("PUT", "/api/v2/tickets/12"),
        ("POST", "/api/v2/tickets/12/notes"),
    ]
    ticket = freshdesk.tickets[12]
    assert ticket.tags == ["csat_2_of_5"] and ticket.custom_fields == {"cf_csat_score": 2}
    assert "Comment: Slow" in ticket.notes[0]["body"] and ticket.notes[0]["private"] is True
    ratings = desk.api("/api/v1/ratings?ticket_id=12").get_json()["ratings"]
    assert [(r["score"], r["comment"], r["status"]) for r in ratings] == [(2, "Slow", "counted")]


def test_a_requester_with_a_mobile_number_gets_the_survey_by_sms(app, desk):
    """{{ticket.requester.mobile}} before {{ticket.requester.phone}}; national numbers read with the region GB."""
    body = fixture("rule_resolved.json")
    body["freshdesk_webhook"].update(requester_mobile="07700 900123", requester_phone="020 7946 0018")
    with twilio_for(app, desk.key, phone_region="GB") as twilio:
        assert desk.post(body).status_code == 202
        desk.run_jobs()
        survey = latest_survey("11")
        assert (survey.channel, survey.requester_phone, survey.status) == ("sms", "+447700900123", "sent")
        assert [m["to"] for m in twilio.messages] == ["+447700900123"]
