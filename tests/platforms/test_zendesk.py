"""Zendesk: signed trigger and event webhooks in, the lookup job, and write-backs observed at a Zendesk emulator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from plugin.services import services
from tests.emulators.zendesk import ZendeskEmulator
from tests.platforms.support import (
    PlatformAccount,
    fixture_loader,
    latest_survey,
    latest_write_back,
    make_write_backs_due,
)
from tests.support.sms import twilio_for

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3RpbmdfcHVycG9zZXNfb25seQ=="
FIELD_ID = 360001
fixture = fixture_loader("zendesk")


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


@pytest.fixture
def zendesk():
    with ZendeskEmulator() as emulator:
        emulator.field_ids.add(FIELD_ID)
        emulator.add_user(9001, "dana@customer.test", "Dana Customer")
        emulator.add_user(9002, "lee@customer.test", "Lee Customer", locale="de")
        emulator.add_user(501, "sam@acme.test", "Sam Agent", role="agent")
        emulator.add_user(502, "kim@acme.test", "Kim Agent", role="agent")
        emulator.add_ticket(4711, requester_id=9001, assignee_id=501, tags=["vpn", "vip_customer"])
        emulator.add_ticket(4712, requester_id=9002, assignee_id=501, tags=["vpn"])
        yield emulator


class Desk(PlatformAccount):
    """One Zendesk account pointed at the emulator; posts signed webhooks as Zendesk does."""

    def __init__(self, client, zendesk: ZendeskEmulator, smtp_server, *, oauth: bool = False, **settings) -> None:
        super().__init__(
            client,
            "zendesk",
            smtp_server,
            name="Acme on Zendesk",
            webhook_secret=SECRET,
            api_url=zendesk.url,
            api_user=None if oauth else zendesk.email,
            api_token=zendesk.oauth_token if oauth else zendesk.api_token,
            options={"custom_field_id": str(FIELD_ID)},
            **settings,
        )
        self.zendesk = zendesk
        self._invocations = 0

    def post(self, payload: dict | bytes, *, invocation: str | None = None, timestamp: str | None = None, **kw):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self._invocations += 1
        timestamp = timestamp or services().clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Webhook-Id": "01HWEBHOOK",
            "X-Zendesk-Webhook-Invocation-Id": invocation or f"inv-{self._invocations}",
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            "X-Zendesk-Webhook-Signature": kw.pop("signature", None) or sign(body, timestamp, kw.pop("secret", SECRET)),
        }
        for name in kw.pop("without", ()):
            headers.pop(name)
        return self.client.post(self.url, data=body, headers=headers)


@pytest.fixture
def desk(app, client, zendesk, smtp_server):
    return Desk(client, zendesk, smtp_server)


def _basic(email: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()


# --- events in ---------------------------------------------------------------------------------------------------


def test_signed_trigger_body_is_accepted_and_freezes_the_assignee(desk):
    response = desk.post(fixture("trigger_solved.json"))
    assert response.status_code == 202
    assert response.get_json()["survey"]["status"] == "scheduled"
    survey = latest_survey("4711")
    assert (survey.requester_email, survey.requester_name, survey.locale) == (
        "dana@customer.test",
        "Dana Customer",
        "en",
    )
    assert (survey.agent_id, survey.agent_email, survey.agent_name) == ("501", "sam@acme.test", "Sam Agent")
    assert (survey.brand, survey.team, survey.ticket_url) == (
        "Acme",
        "Tier 1",
        "https://acme.zendesk.com/agent/tickets/4711",
    )
    assert desk.zendesk.calls == []  # nothing slow inside the request


@pytest.mark.parametrize(
    "change",
    [
        {"secret": "not-the-secret"},
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"without": ["X-Zendesk-Webhook-Signature"]},
        {"without": ["X-Zendesk-Webhook-Signature-Timestamp"]},
    ],
)
def test_wrong_or_missing_signature_is_401(desk, change):
    response = desk.post(fixture("trigger_solved.json"), **change)
    assert response.status_code == 401
    assert latest_survey("4711") is None


@pytest.mark.parametrize("minutes", [-6, 6])
def test_timestamp_outside_the_five_minute_window_is_401(desk, minutes):
    stale = (services().clock() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = desk.post(fixture("trigger_solved.json"), timestamp=stale)
    assert response.status_code == 401
    assert "5 minutes" in response.get_json()["message"]


def test_tampered_body_is_401(desk):
    body = json.dumps(fixture("trigger_solved.json")).encode()
    timestamp = services().clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    response = desk.post(
        body.replace(b"dana@customer.test", b"mallory@evil.test"), timestamp=timestamp, signature=sign(body, timestamp)
    )
    assert response.status_code == 401


def test_a_replayed_invocation_is_a_duplicate_and_sends_one_survey(desk, smtp_server):
    event = fixture("trigger_solved.json")
    answers = [desk.post(event, invocation="inv-same").status_code for _ in range(3)]
    desk.run_jobs()
    desk.run_jobs()
    assert answers == [202, 200, 200]
    assert [m["To"] for m in smtp_server.messages] == ["Dana Customer <dana@customer.test>"]


def test_an_empty_test_delivery_is_acknowledged_and_ignored(desk):
    response = desk.post({})
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")


def test_missing_ticket_id_is_400_naming_it(desk):
    event = fixture("trigger_solved.json")
    del event["ticket"]["id"]
    response = desk.post(event)
    assert response.status_code == 400
    assert "ticket.id" in response.get_json()["message"]


def test_reopen_trigger_cancels_the_unsent_survey(app, client, zendesk, smtp_server):
    desk = Desk(client, zendesk, smtp_server, delay_minutes=60)
    assert desk.post(fixture("trigger_solved.json")).status_code == 202
    assert desk.post(fixture("trigger_reopened.json")).status_code == 202
    desk.run_jobs()
    assert latest_survey("4711").status == "cancelled"
    assert smtp_server.messages == []


def test_event_subscribed_solve_reads_people_in_a_job_then_sends_the_survey(desk, zendesk, smtp_server):
    zendesk.tickets[4712].assignee_id = 502  # reassigned after the solve: the event's assignee still gets the rating
    response = desk.post(fixture("event_status_changed_solved.json"))
    assert response.status_code == 202
    assert "survey" not in response.get_json()
    assert zendesk.calls == []  # the request only stored the event

    desk.run_jobs()
    assert [(c.method, c.path, c.query) for c in zendesk.calls] == [
        ("GET", "/api/v2/tickets/4712", {"include": ["users"]}),
        ("GET", "/api/v2/users/501", {}),
    ]
    assert all(c.authorization == _basic(zendesk.email, zendesk.api_token) for c in zendesk.calls)
    survey = latest_survey("4712")
    assert (survey.status, survey.requester_email, survey.requester_name, survey.locale) == (
        "sent",
        "lee@customer.test",
        "Lee Customer",
        "de",
    )
    assert (survey.agent_id, survey.agent_email, survey.agent_name) == ("501", "sam@acme.test", "Sam Agent")
    assert survey.ticket_url == f"{zendesk.url}/agent/tickets/4712"
    assert [m["To"] for m in smtp_server.messages] == ["Lee Customer <lee@customer.test>"]


def test_event_subscribed_reopen_cancels_the_unsent_survey(app, client, zendesk, smtp_server):
    desk = Desk(client, zendesk, smtp_server, delay_minutes=60)
    desk.post(fixture("event_status_changed_solved.json"))
    desk.run_jobs()
    assert latest_survey("4712").status == "scheduled"
    assert desk.post(fixture("event_status_changed_reopened.json")).status_code == 202
    assert latest_survey("4712").status == "cancelled"


@pytest.mark.parametrize(
    "change",
    [
        {"type": "zen:event-type:ticket.priority_changed", "event": {"current": "HIGH", "previous": "LOW"}},
        {"event": {"current": "CLOSED", "previous": "SOLVED"}},  # the automatic close after a solve
        {"event": {"current": "PENDING", "previous": "OPEN"}},
    ],
)
def test_other_events_are_acknowledged_and_ignored(desk, zendesk, change):
    event = {**fixture("event_status_changed_solved.json"), **change}
    response = desk.post(event)
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")
    desk.run_jobs()
    assert latest_survey("4712") is None and zendesk.calls == []


def test_a_reopen_while_the_lookup_waits_means_no_survey(desk, zendesk, smtp_server):
    desk.post(fixture("event_status_changed_solved.json"))
    assert desk.post(fixture("event_status_changed_reopened.json")).status_code == 202
    desk.run_jobs()
    assert latest_survey("4712") is None
    assert smtp_server.messages == []


def test_lookup_of_a_deleted_ticket_skips_the_survey(desk, zendesk):
    del zendesk.tickets[4712]
    desk.post(fixture("event_status_changed_solved.json"))
    desk.run_jobs()
    assert (latest_survey("4712").status, latest_survey("4712").reason) == ("skipped", "no_requester_email")


def test_lookup_retried_with_backoff_when_zendesk_is_down(desk, zendesk, clock):
    zendesk.fail_next(503)
    desk.post(fixture("event_status_changed_solved.json"))
    desk.run_jobs()
    assert latest_survey("4712") is None
    desk.run_jobs()  # not due again yet: Zendesk is not asked again at once
    assert len(zendesk.calls) == 1
    clock.advance(minutes=2)
    desk.run_jobs()
    assert latest_survey("4712").requester_email == "lee@customer.test"


def test_lookup_refused_for_good_records_the_survey_as_skipped_with_why(desk, zendesk, smtp_server):
    from plugin.accounts import by_key, update_account

    s = services()
    with s.db.session() as session:
        update_account(session, s.box, by_key(session, desk.key), api_token="revoked-token")
    desk.post(fixture("event_status_changed_solved.json"))
    desk.run_jobs()
    survey = latest_survey("4712")
    assert survey.status == "skipped"
    assert survey.reason.startswith("lookup_failed: HTTP 401")
    assert smtp_server.messages == []


# --- ratings out -------------------------------------------------------------------------------------------------


def _solved_and_rated(desk, score: int, comment: str = "") -> None:
    desk.post(fixture("trigger_solved.json"))
    desk.run_jobs()
    desk.rate(score, comment)
    desk.run_jobs()


def test_write_back_makes_exactly_the_expected_requests(desk, zendesk):
    _solved_and_rated(desk, 4, "Quick and friendly")
    calls = zendesk.calls
    assert [(c.method, c.path) for c in calls] == [
        ("PUT", "/api/v2/tickets/4711/tags"),
        ("PUT", "/api/v2/tickets/4711"),
    ]
    assert all(c.authorization == _basic("admin@acme.test", "zd-token") for c in calls)
    assert calls[0].body == {"tags": ["csat_4_of_5"]}
    ticket_update = calls[1].body["ticket"]
    assert set(ticket_update) == {"comment", "custom_fields"}
    assert ticket_update["comment"]["public"] is False
    assert "Customer rating: 4/5" in ticket_update["comment"]["body"]
    assert "Comment: Quick and friendly" in ticket_update["comment"]["body"]
    assert "Sam Agent: CSAT 100.0% over 1 rating(s)" in ticket_update["comment"]["body"]
    assert ticket_update["custom_fields"] == [{"id": FIELD_ID, "value": 4}]

    ticket = zendesk.tickets[4711]
    assert ticket.tags == ["vpn", "vip_customer", "csat_4_of_5"]
    assert ticket.custom_fields == {FIELD_ID: 4}
    assert [c["public"] for c in ticket.comments] == [False]
    assert latest_write_back().status == "delivered"


def test_a_changed_rating_replaces_only_our_tag(desk, zendesk, smtp_server):
    _solved_and_rated(desk, 5)
    desk.rate(2, message=smtp_server.messages[-1])
    desk.run_jobs()
    later = zendesk.calls[2:]
    assert [(c.method, c.path, c.body) for c in later[:2]] == [
        ("PUT", "/api/v2/tickets/4711/tags", {"tags": ["csat_2_of_5"]}),
        ("DELETE", "/api/v2/tickets/4711/tags", {"tags": ["csat_5_of_5"]}),
    ]
    ticket = zendesk.tickets[4711]
    assert ticket.tags == ["vpn", "vip_customer", "csat_2_of_5"]
    assert ticket.custom_fields == {FIELD_ID: 2}
    assert len(ticket.comments) == 2 and "version 2" in ticket.comments[1]["body"]


def test_oauth_token_is_sent_as_bearer_when_there_is_no_api_user(app, client, zendesk, smtp_server):
    desk = Desk(client, zendesk, smtp_server, oauth=True)
    _solved_and_rated(desk, 3)
    assert {c.authorization for c in zendesk.calls} == {"Bearer zd-oauth"}
    assert latest_write_back().status == "delivered"


def test_429_waits_for_retry_after_then_delivers(desk, zendesk):
    zendesk.fail_next(429, retry_after=120)
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1)
    assert wb.next_attempt_at >= services().clock() + timedelta(seconds=115)
    assert "HTTP 429" in wb.last_error
    desk.run_jobs()
    assert len(zendesk.calls) == 1  # not due yet: nothing sent
    make_write_backs_due()
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert zendesk.tickets[4711].tags[-1] == "csat_4_of_5"
    assert len(zendesk.tickets[4711].comments) == 1


def test_server_error_is_retried_without_writing_the_note_twice(desk, zendesk):
    desk.post(fixture("trigger_solved.json"))
    desk.run_jobs()
    zendesk.fail_next(500, after=1)  # the tags call passes, the ticket update with the note fails
    desk.rate(4)
    desk.run_jobs()
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1) and "HTTP 500" in wb.last_error
    assert wb.next_attempt_at > services().clock() + timedelta(seconds=10)
    make_write_backs_due()
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert [(c.method, c.path) for c in zendesk.calls] == [
        ("PUT", "/api/v2/tickets/4711/tags"),
        ("PUT", "/api/v2/tickets/4711"),
        ("PUT", "/api/v2/tickets/4711/tags"),
        ("PUT", "/api/v2/tickets/4711"),
    ]
    assert len(zendesk.tickets[4711].comments) == 1
    assert zendesk.tickets[4711].tags == ["vpn", "vip_customer", "csat_4_of_5"]


def test_closed_ticket_is_parked_with_a_clear_message(desk, zendesk):
    zendesk.tickets[4711].status = "closed"
    _solved_and_rated(desk, 5)
    parked = desk.api("/api/v1/write-backs?status=parked").get_json()["write_backs"]
    assert len(parked) == 1
    assert "closed before the rating arrived" in parked[0]["last_error"]
    assert "HTTP 422" in parked[0]["last_error"]  # never the body (security.md)


def test_wrong_credentials_are_parked_with_zendesks_error_text(app, client, zendesk, smtp_server):
    zendesk.api_token = "rotated"
    desk = Desk(client, zendesk, smtp_server)
    zendesk.api_token = "zd-token"
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert wb.status == "parked"
    assert "HTTP 401" in wb.last_error  # never the body (security.md)


def test_unknown_custom_field_is_parked_with_zendesks_error_text(desk, zendesk):
    zendesk.field_ids.clear()
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert wb.status == "parked" and "HTTP 422" in wb.last_error


# --- the whole loop, through the HTTP contract only --------------------------------------------------------------


def test_end_to_end_event_mail_click_confirm_write_back(desk, zendesk, smtp_server):
    assert desk.post(fixture("event_status_changed_solved.json")).status_code == 202
    desk.run_jobs()
    (mail,) = smtp_server.messages
    assert mail["To"] == "Lee Customer <lee@customer.test>"
    desk.rate(5, "Great", message=mail)
    desk.run_jobs()
    writes = [(c.method, c.path) for c in zendesk.calls if c.method != "GET"]
    assert writes == [("PUT", "/api/v2/tickets/4712/tags"), ("PUT", "/api/v2/tickets/4712")]
    ticket = zendesk.tickets[4712]
    assert ticket.tags == ["vpn", "csat_5_of_5"]
    assert "Comment: Great" in ticket.comments[0]["body"] and ticket.comments[0]["public"] is False
    ratings = desk.api("/api/v1/ratings?ticket_id=4712").get_json()["ratings"]
    assert [(r["score"], r["agent_email"], r["status"]) for r in ratings] == [(5, "sam@acme.test", "counted")]


# --- issue 12: JSON-safe body, locales by code, the empty "Test webhook" body, dedupe on signed content -----------


def test_the_guides_body_carries_no_free_text_and_the_lookup_fills_in_subject_people_and_locale(desk, zendesk):
    zendesk.tickets[4711].subject = 'Printer says "PC LOAD LETTER" \\ again'
    zendesk.users[9001]["locale"] = "pt-BR"
    response = desk.post(fixture("trigger_solved_ids_only.json"))
    assert response.status_code == 202
    desk.run_jobs()
    survey = latest_survey("4711")
    assert survey.ticket_subject == 'Printer says "PC LOAD LETTER" \\ again'
    assert (survey.requester_email, survey.requester_name, survey.locale) == (
        "dana@customer.test",
        "Dana Customer",
        "pt",
    )
    assert (survey.agent_id, survey.agent_email) == ("501", "sam@acme.test")
    assert survey.ticket_url.endswith("/agent/tickets/4711")


def test_the_assignee_who_solved_stays_credited_if_the_ticket_is_reassigned_before_the_lookup(desk, zendesk):
    zendesk.tickets[4711].assignee_id = 502  # Kim took it over after Sam solved it
    assert desk.post(fixture("trigger_solved_ids_only.json")).status_code == 202
    desk.run_jobs()
    assert latest_survey("4711").agent_email == "sam@acme.test"  # credited by the address the signed body names


def test_a_subject_with_a_quote_in_the_old_full_body_is_a_400_naming_json(desk):
    """What the previous guide's body became with such a subject: Zendesk pastes the text unescaped."""
    body = json.dumps(fixture("trigger_solved.json")).replace("VPN drops every hour", 'VPN "drops"').encode()
    body = body.replace(b'\\"drops\\"', b'"drops"')
    assert b'"VPN "drops""' in body
    response = desk.post(body)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "rendered, expected",
    [
        ("Norwegian Bokm\u00e5l", "nb"),
        ("Portuguese (Brazil)", "pt"),
        ("Arabic", "ar"),
        ("English (United Kingdom)", "en"),
        ("Deutsch", "de"),
        ("Fran\u00e7ais", "fr"),
        ("pt-BR", "pt"),
        ("zh-tw", "zh_Hant"),
    ],
)
def test_language_names_zendesk_renders_map_to_the_right_catalogue(
    app, client, zendesk, smtp_server, rendered, expected
):
    desk = Desk(client, zendesk, smtp_server, locale="it")
    body = fixture("trigger_solved.json")
    body["requester"]["locale"] = rendered
    assert desk.post(body).status_code == 202
    assert latest_survey("4711").locale == expected


def test_the_empty_test_webhook_body_is_acknowledged_with_200(desk):
    response = desk.post(b"")
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")
    assert desk.zendesk.calls == []


def test_a_new_invocation_id_on_the_same_signed_body_is_a_duplicate(desk, smtp_server):
    """The invocation id header is outside the HMAC (timestamp + body): a replay with a new one changes nothing."""
    body = json.dumps(fixture("trigger_solved.json")).encode()
    answers = [desk.post(body, invocation=f"inv-replayed-{n}").status_code for n in range(3)]
    desk.run_jobs()
    assert answers == [202, 200, 200]
    assert len(smtp_server.messages) == 1


def test_a_requester_with_a_phone_gets_the_survey_by_sms(app, desk, zendesk):
    """The users API's `phone`, read by the lookup job, with the account's channels sms,email and Twilio."""
    zendesk.users[9002]["phone"] = "+1 (415) 555-0100"
    with twilio_for(app, desk.key) as twilio:
        assert desk.post(fixture("event_status_changed_solved.json")).status_code == 202
        desk.run_jobs()
        survey = latest_survey("4712")
        assert (survey.channel, survey.requester_phone, survey.status) == ("sms", "+14155550100", "sent")
        assert [m["to"] for m in twilio.messages] == ["+14155550100"]
