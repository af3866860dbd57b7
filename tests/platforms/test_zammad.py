"""Zammad: signed trigger webhooks in, write-backs (token auth) observed at a Zammad emulator."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import pytest

from tests.emulators.zammad import ZammadEmulator
from tests.platforms.support import PlatformAccount, fixture_loader, latest_survey, latest_write_back
from tests.support.sms import twilio_for

SECRET = "zammad-hmac-token-3f9c"
TICKET = 81
fixture = fixture_loader("zammad")


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


@pytest.fixture
def zammad():
    with ZammadEmulator() as emulator:
        emulator.attribute_names.add("csat_score")
        emulator.add_ticket(TICKET, tags=["coffee", "vip"])
        yield emulator


class Desk(PlatformAccount):
    """One Zammad account pointed at the emulator; posts signed trigger webhooks as Zammad does."""

    def __init__(self, client, zammad: ZammadEmulator, smtp_server, *, token: str | None = None, **kw) -> None:
        super().__init__(
            client,
            "zammad",
            smtp_server,
            name="Acme on Zammad",
            webhook_secret=SECRET,
            api_url=zammad.url,
            api_token=token or zammad.token,
            **{"options": {"custom_field": "csat_score"}, **kw},
        )
        self.zammad = zammad

    def post(self, payload: dict | bytes, *, delivery: str | None = None, signature: str | None = None, **kw):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Zammad User Agent",
            "X-Zammad-Trigger": "OpenCSAT: ticket closed or reopened",
            "X-Zammad-Delivery": delivery or uuid.uuid4().hex,
            "X-Hub-Signature": signature or sign(body, kw.pop("secret", SECRET)),
        }
        for name in kw.pop("without", ()):
            headers.pop(name)
        return self.client.post(self.url, data=body, headers=headers)


@pytest.fixture
def desk(app, client, zammad, smtp_server):
    return Desk(client, zammad, smtp_server)


def _solved_and_rated(desk: Desk, score: int, comment: str = "") -> None:
    assert desk.post(fixture("trigger_closed.json")).status_code == 202
    desk.run_jobs()
    desk.rate(score, comment)
    desk.run_jobs()


# --- events in ---------------------------------------------------------------------------------------------------


def test_signed_closed_ticket_is_accepted_and_freezes_the_owner(desk, zammad):
    response = desk.post(fixture("trigger_closed.json"))
    assert response.status_code == 202
    assert response.get_json()["survey"]["status"] == "scheduled"
    survey = latest_survey(TICKET)
    assert (survey.requester_email, survey.requester_name) == ("emily@example.com", "Emily Adams")
    assert (survey.agent_id, survey.agent_email, survey.agent_name) == ("5", "emma@chrispresso.com", "Emma Taylor")
    assert (survey.ticket_subject, survey.team) == ("Coffee machine leaks", "Service Desk")
    assert zammad.calls == []  # nothing slow inside the request


@pytest.mark.parametrize(
    "change",
    [
        {"secret": "not-the-secret"},
        {"signature": "sha1=" + "0" * 40},
        {"signature": hmac.new(SECRET.encode(), b"x", hashlib.sha1).hexdigest()},  # without the sha1= prefix
        {"without": ["X-Hub-Signature"]},
    ],
)
def test_wrong_or_missing_signature_is_401(desk, change):
    response = desk.post(fixture("trigger_closed.json"), **change)
    assert response.status_code == 401
    assert latest_survey(TICKET) is None


def test_tampered_body_is_401(desk):
    body = json.dumps(fixture("trigger_closed.json")).encode()
    response = desk.post(body.replace(b"emily@example.com", b"mallory@evil.test"), signature=sign(body))
    assert response.status_code == 401


def test_missing_ticket_id_is_400(desk):
    body = fixture("trigger_closed.json")
    del body["ticket"]["id"]
    response = desk.post(body)
    assert response.status_code == 400 and "ticket.id" in response.get_json()["message"]


def test_a_new_delivery_header_on_the_same_signed_body_is_a_duplicate(desk, smtp_server):
    """X-Zammad-Delivery is outside the HMAC (lib/user_agent.rb signs the body only): it cannot make a replay new."""
    answers = [desk.post(fixture("trigger_closed.json")).status_code for _ in range(3)]  # a new job id each time
    answers.append(desk.post(fixture("trigger_closed.json"), without=["X-Zammad-Delivery"]).status_code)
    desk.run_jobs()
    assert answers == [202, 200, 200, 200]
    assert len(smtp_server.messages) == 1


def test_closed_reopened_closed_again_is_a_second_event(app, client, zammad, smtp_server):
    desk = Desk(client, zammad, smtp_server, delay_minutes=60)
    closed, reopened = fixture("trigger_closed.json"), fixture("trigger_reopened.json")
    again = fixture("trigger_closed.json")
    again["ticket"]["updated_at"] = "2020-11-13T16:20:00.000Z"  # Zammad stamps every update
    assert [desk.post(b).status_code for b in (closed, reopened, again)] == [202, 202, 202]


def test_a_replayed_delivery_is_a_duplicate_and_sends_one_survey(desk, smtp_server):
    answers = [desk.post(fixture("trigger_closed.json"), delivery="job-7f3a").status_code for _ in range(3)]
    desk.run_jobs()
    desk.run_jobs()
    assert answers == [202, 200, 200]
    assert [m["To"] for m in smtp_server.messages] == ["Emily Adams <emily@example.com>"]


def test_reopen_cancels_the_unsent_survey(app, client, zammad, smtp_server):
    desk = Desk(client, zammad, smtp_server, delay_minutes=60)
    assert desk.post(fixture("trigger_closed.json")).status_code == 202
    assert desk.post(fixture("trigger_reopened.json")).status_code == 202
    desk.run_jobs()
    assert latest_survey(TICKET).status == "cancelled"
    assert smtp_server.messages == []


def test_other_states_are_ignored_unless_configured(app, client, zammad, smtp_server):
    desk = Desk(client, zammad, smtp_server)
    response = desk.post(fixture("trigger_pending_close.json"))
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")
    configured = Desk(client, zammad, smtp_server, options={"solved_states": "closed, pending close"})
    response = configured.post(fixture("trigger_pending_close.json"))
    assert (response.status_code, response.get_json()["event"]) == (202, "solved")


def test_an_unassigned_ticket_has_no_agent(desk):
    body = fixture("trigger_closed.json")
    body["ticket"]["owner"] = {"id": 1, "login": "-", "firstname": "-", "lastname": "", "email": ""}
    body["ticket"]["owner_id"] = 1
    assert desk.post(body).status_code == 202
    survey = latest_survey(TICKET)
    assert (survey.agent_id, survey.agent_email) == (None, None)


def test_the_trigger_fired_by_our_own_note_is_ignored(desk):
    body = fixture("trigger_closed.json")
    body["article"].update({"body": "Customer rating: 5/5 (Very satisfied) on the csat5 scale", "internal": True})
    response = desk.post(body)
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")
    assert latest_survey(TICKET) is None


# --- ratings out -------------------------------------------------------------------------------------------------


def test_write_back_makes_exactly_the_expected_requests(desk, zammad):
    _solved_and_rated(desk, 4, "Quick and friendly")
    calls = zammad.calls
    assert [(c.method, c.path) for c in calls] == [
        ("GET", "/api/v1/tags"),
        ("POST", "/api/v1/tags/add"),
        ("PUT", f"/api/v1/tickets/{TICKET}"),
        ("POST", "/api/v1/ticket_articles"),
    ]
    assert {c.authorization for c in calls} == {"Token token=zammad-token"}
    assert calls[0].query == {"object": ["Ticket"], "o_id": [str(TICKET)]}
    assert calls[1].body == {"object": "Ticket", "o_id": TICKET, "item": "csat_4_of_5"}
    assert calls[2].body == {"csat_score": 4}
    article = calls[3].body
    assert {k: article[k] for k in ("ticket_id", "type", "internal", "content_type")} == {
        "ticket_id": TICKET,
        "type": "note",
        "internal": True,
        "content_type": "text/plain",
    }
    assert "Customer rating: 4/5" in article["body"] and "Comment: Quick and friendly" in article["body"]
    assert "Emma Taylor: CSAT 100.0% over 1 rating(s)" in article["body"]

    ticket = zammad.tickets[TICKET]
    assert ticket.tags == ["coffee", "vip", "csat_4_of_5"]
    assert ticket.attributes == {"csat_score": 4}
    assert [(a["type"], a["internal"]) for a in ticket.articles] == [("note", True)]
    assert latest_write_back().status == "delivered"


def test_a_changed_rating_replaces_only_our_tag(desk, zammad, smtp_server):
    _solved_and_rated(desk, 5)
    desk.rate(2, message=smtp_server.messages[-1])
    desk.run_jobs()
    later = zammad.calls[4:]
    assert [(c.method, c.path, c.body) for c in later[:3]] == [
        ("GET", "/api/v1/tags", None),
        ("POST", "/api/v1/tags/add", {"object": "Ticket", "o_id": TICKET, "item": "csat_2_of_5"}),
        ("DELETE", "/api/v1/tags/remove", {"object": "Ticket", "o_id": TICKET, "item": "csat_5_of_5"}),
    ]
    ticket = zammad.tickets[TICKET]
    assert ticket.tags == ["coffee", "vip", "csat_2_of_5"]
    assert ticket.attributes == {"csat_score": 2}
    assert len(ticket.articles) == 2 and "version 2" in ticket.articles[1]["body"]


def test_429_waits_for_retry_after_then_delivers(desk, zammad, clock):
    zammad.fail_next(429, retry_after=120)
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1) and "HTTP 429" in wb.last_error
    assert wb.next_attempt_at >= clock.now + timedelta(seconds=120)
    clock.advance(seconds=100)
    desk.run_jobs()
    assert len(zammad.calls) == 1  # not due yet: nothing sent
    clock.advance(seconds=21)
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert zammad.tickets[TICKET].tags == ["coffee", "vip", "csat_4_of_5"]
    assert len(zammad.tickets[TICKET].articles) == 1


def test_server_error_is_retried_without_writing_the_note_twice(desk, zammad, clock):
    desk.post(fixture("trigger_closed.json"))
    desk.run_jobs()
    zammad.fail_next(500, after=3)  # tags and field pass, the note fails
    desk.rate(4)
    desk.run_jobs()
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1) and "HTTP 500" in wb.last_error
    clock.advance(hours=1)
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert [(c.method, c.path) for c in zammad.calls[4:]] == [
        ("GET", "/api/v1/tags"),  # our tag is already there: not added again
        ("PUT", f"/api/v1/tickets/{TICKET}"),
        ("POST", "/api/v1/ticket_articles"),
    ]
    assert len(zammad.tickets[TICKET].articles) == 1
    assert zammad.tickets[TICKET].tags == ["coffee", "vip", "csat_4_of_5"]


def test_wrong_token_is_parked_with_zammads_error_text(app, client, zammad, smtp_server):
    desk = Desk(client, zammad, smtp_server, token="revoked-token")
    _solved_and_rated(desk, 4)
    parked = desk.api("/api/v1/write-backs?status=parked").get_json()["write_backs"]
    assert len(parked) == 1
    assert "HTTP 401" in parked[0]["last_error"]  # never the body (security.md)


def test_unknown_custom_field_is_parked_before_the_note(app, client, zammad, smtp_server):
    desk = Desk(client, zammad, smtp_server, options={"custom_field": "csat_typo"})
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert wb.status == "parked" and "HTTP 422" in wb.last_error
    assert zammad.tickets[TICKET].articles == []


def test_without_custom_field_option_the_ticket_is_not_updated(app, client, zammad, smtp_server):
    desk = Desk(client, zammad, smtp_server, options={})
    _solved_and_rated(desk, 3)
    assert [c.method for c in zammad.calls] == ["GET", "POST", "POST"]
    assert zammad.tickets[TICKET].attributes == {}


# --- the whole loop, through the HTTP contract only --------------------------------------------------------------


def test_end_to_end_event_mail_click_confirm_write_back(desk, zammad, smtp_server):
    assert desk.post(fixture("trigger_closed.json")).status_code == 202
    desk.run_jobs()
    (mail,) = smtp_server.messages
    assert mail["To"] == "Emily Adams <emily@example.com>"
    desk.rate(5, "Great", message=mail)
    desk.run_jobs()
    assert [(c.method, c.path) for c in zammad.calls] == [
        ("GET", "/api/v1/tags"),
        ("POST", "/api/v1/tags/add"),
        ("PUT", f"/api/v1/tickets/{TICKET}"),
        ("POST", "/api/v1/ticket_articles"),
    ]
    ticket = zammad.tickets[TICKET]
    assert ticket.tags == ["coffee", "vip", "csat_5_of_5"]
    assert "Comment: Great" in ticket.articles[0]["body"] and ticket.articles[0]["internal"] is True
    ratings = desk.api(f"/api/v1/ratings?ticket_id={TICKET}").get_json()["ratings"]
    assert [(r["score"], r["agent_email"], r["status"]) for r in ratings] == [(5, "emma@chrispresso.com", "counted")]


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        ({}, "+61212347777"),  # the documented sample's customer "phone": "0061 2 1234 7777"
        ({"mobile": "+61 412 345 678"}, "+61412345678"),  # a mobile number wins
    ],
)
def test_a_customer_with_a_phone_gets_the_survey_by_sms(app, desk, numbers, expected):
    body = fixture("trigger_closed.json")
    body["ticket"]["customer"].update(numbers)
    with twilio_for(app, desk.key) as twilio:
        assert desk.post(body).status_code == 202
        desk.run_jobs()
        survey = latest_survey(str(body["ticket"]["id"]))
        assert (survey.channel, survey.requester_phone, survey.status) == ("sms", expected, "sent")
        assert [m["to"] for m in twilio.messages] == [expected]
