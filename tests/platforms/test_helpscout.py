"""Help Scout: signed `convo.status` webhooks in, write-backs (OAuth2 client credentials) observed at an emulator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from plugin.adapters.helpscout import ADAPTER
from tests.emulators.helpscout import HelpScoutEmulator
from tests.platforms.support import PlatformAccount, fixture_loader, latest_survey, latest_write_back
from tests.support.sms import twilio_for

SECRET = "hs-webhook-secret-0123456789abcdefghij"  # Help Scout allows at most 40 characters
CONVERSATION = 2391938111
FIELD_ID = 104
OTHER_FIELD_ID = 6688
fixture = fixture_loader("helpscout")


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()


@pytest.fixture
def helpscout():
    ADAPTER.tokens.clear()
    with HelpScoutEmulator() as emulator:
        emulator.field_names.update({FIELD_ID: "CSAT score", OTHER_FIELD_ID: "Account Type"})
        emulator.add_conversation(CONVERSATION, tags=["vpn", "vip"], fields={OTHER_FIELD_ID: "33077"})
        yield emulator
    ADAPTER.tokens.clear()


class Desk(PlatformAccount):
    """One Help Scout account pointed at the emulator; posts signed webhooks as Help Scout does."""

    def __init__(self, client, helpscout: HelpScoutEmulator, smtp_server, *, app_secret: str | None = None, **kw):
        super().__init__(
            client,
            "helpscout",
            smtp_server,
            name="Acme on Help Scout",
            webhook_secret=SECRET,
            api_url=helpscout.url,
            api_user=helpscout.client_id,
            api_token=app_secret or helpscout.client_secret,
            **{"options": {"custom_field_id": str(FIELD_ID)}, **kw},
        )
        self.helpscout = helpscout

    def post(self, payload: dict | bytes, *, event: str = "convo.status", signature: str | None = None, **kw):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-HelpScout-Event": event,
            "X-HelpScout-Signature": signature or sign(body, kw.pop("secret", SECRET)),
        }
        for name in kw.pop("without", ()):
            headers.pop(name)
        return self.client.post(self.url, data=body, headers=headers)


@pytest.fixture
def desk(app, client, helpscout, smtp_server):
    return Desk(client, helpscout, smtp_server)


def _solved_and_rated(desk: Desk, score: int, comment: str = "") -> None:
    assert desk.post(fixture("convo_status_closed.json")).status_code == 202
    desk.run_jobs()
    desk.rate(score, comment)
    desk.run_jobs()


def _api_calls(helpscout: HelpScoutEmulator) -> list[tuple[str, str]]:
    return [(c.method, c.path) for c in helpscout.calls if c.path != "/v2/oauth2/token"]


# --- events in ---------------------------------------------------------------------------------------------------


def test_signed_closed_conversation_is_accepted_and_freezes_the_assignee(desk, helpscout):
    response = desk.post(fixture("convo_status_closed.json"))
    assert response.status_code == 202
    assert response.get_json()["survey"]["status"] == "scheduled"
    survey = latest_survey(CONVERSATION)
    assert (survey.requester_email, survey.requester_name) == ("dana@customer.test", "Dana Customer")
    assert (survey.agent_id, survey.agent_email, survey.agent_name) == ("256", "sam@acme.test", "Sam Agent")
    assert survey.ticket_subject == "VPN drops every hour"
    assert survey.ticket_url == f"https://secure.helpscout.net/conversation/{CONVERSATION}/349"
    assert helpscout.calls == []  # nothing slow inside the request


@pytest.mark.parametrize(
    "change",
    [
        {"secret": "not-the-secret"},
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"without": ["X-HelpScout-Signature"]},
    ],
)
def test_wrong_or_missing_signature_is_401(desk, change):
    response = desk.post(fixture("convo_status_closed.json"), **change)
    assert response.status_code == 401
    assert latest_survey(CONVERSATION) is None


def test_tampered_body_is_401(desk):
    body = json.dumps(fixture("convo_status_closed.json")).encode()
    response = desk.post(body.replace(b"dana@customer.test", b"mallory@evil.test"), signature=sign(body))
    assert response.status_code == 401


def test_the_test_button_is_answered_200_and_ignored(desk):
    response = desk.post(fixture("helpscout_test.json"), event="helpscout.test")
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")
    assert latest_survey("1") is None


@pytest.mark.parametrize(
    ("name", "event"), [("convo_status_pending.json", "convo.status"), ("convo_status_closed.json", "convo.tags")]
)
def test_other_statuses_and_events_are_ignored(desk, name, event):
    response = desk.post(fixture(name), event=event)
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")
    assert latest_survey(CONVERSATION) is None


def test_missing_event_header_or_id_is_400(desk):
    assert desk.post(fixture("convo_status_closed.json"), without=["X-HelpScout-Event"]).status_code == 400
    body = fixture("convo_status_closed.json")
    del body["id"]
    response = desk.post(body)
    assert response.status_code == 400 and "id" in response.get_json()["message"]


def test_a_replayed_delivery_is_a_duplicate_and_sends_one_survey(desk, smtp_server):
    answers = [desk.post(fixture("convo_status_closed.json")).status_code for _ in range(3)]
    desk.run_jobs()
    desk.run_jobs()
    assert answers == [202, 200, 200]
    assert [m["To"] for m in smtp_server.messages] == ["Dana Customer <dana@customer.test>"]


def test_reopen_cancels_the_unsent_survey_and_a_later_close_counts_again(app, client, helpscout, smtp_server):
    desk = Desk(client, helpscout, smtp_server, delay_minutes=60, throttle_days=0)
    assert desk.post(fixture("convo_status_closed.json")).status_code == 202
    assert desk.post(fixture("convo_status_active.json")).status_code == 202
    desk.run_jobs()
    assert latest_survey(CONVERSATION).status == "cancelled"
    assert smtp_server.messages == []
    closed_again = {**fixture("convo_status_closed.json"), "userUpdatedAt": "2024-05-04T08:00:00Z"}
    closed_again["closedAt"] = closed_again["userUpdatedAt"]
    response = desk.post(closed_again)
    assert (response.status_code, response.get_json()["survey"]["status"]) == (202, "scheduled")


def test_a_customer_without_email_in_primary_customer_falls_back_to_the_creator(desk):
    body = fixture("convo_status_closed.json")
    body["primaryCustomer"] = {"id": 238604}
    assert desk.post(body).status_code == 202
    assert latest_survey(CONVERSATION).requester_email == "dana@customer.test"


# --- ratings out -------------------------------------------------------------------------------------------------


def test_write_back_makes_exactly_the_expected_requests(desk, helpscout):
    _solved_and_rated(desk, 4, "Quick and friendly")
    token_call, *calls = helpscout.calls
    assert (token_call.method, token_call.path) == ("POST", "/v2/oauth2/token")
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_call.body == {
        "grant_type": "client_credentials",
        "client_id": "hs-app-id",
        "client_secret": "hs-app-secret",
    }
    path = f"/v2/conversations/{CONVERSATION}"
    assert [(c.method, c.path) for c in calls] == [
        ("GET", path),
        ("PUT", f"{path}/tags"),
        ("PUT", f"{path}/fields"),
        ("POST", f"{path}/notes"),
    ]
    token = next(iter(helpscout.tokens))
    assert {c.authorization for c in calls} == {f"Bearer {token}"}
    assert calls[1].body == {"tags": ["vpn", "vip", "csat_4_of_5"]}
    assert calls[2].body == {"fields": [{"id": OTHER_FIELD_ID, "value": "33077"}, {"id": FIELD_ID, "value": "4"}]}
    note = calls[3].body
    assert set(note) == {"text", "status"} and note["status"] == "closed"
    assert "Customer rating: 4/5" in note["text"] and "Comment: Quick and friendly" in note["text"]
    assert "Sam Agent: CSAT 100.0% over 1 rating(s)" in note["text"]

    conversation = helpscout.conversations[CONVERSATION]
    assert conversation.tags == ["vpn", "vip", "csat_4_of_5"]
    assert conversation.fields == {OTHER_FIELD_ID: "33077", FIELD_ID: "4"}
    assert conversation.status == "closed" and len(conversation.notes) == 1
    assert latest_write_back().status == "delivered"


def test_a_changed_rating_replaces_only_our_tag_with_the_cached_token(desk, helpscout, smtp_server):
    _solved_and_rated(desk, 5)
    desk.rate(2, message=smtp_server.messages[-1])
    desk.run_jobs()
    assert len(helpscout.token_requests) == 1  # two write-backs, one token
    assert _api_calls(helpscout)[4:6] == [
        ("GET", f"/v2/conversations/{CONVERSATION}"),
        ("PUT", f"/v2/conversations/{CONVERSATION}/tags"),
    ]
    assert helpscout.calls_to(f"/v2/conversations/{CONVERSATION}/tags")[-1].body == {
        "tags": ["vpn", "vip", "csat_2_of_5"]
    }
    conversation = helpscout.conversations[CONVERSATION]
    assert conversation.tags == ["vpn", "vip", "csat_2_of_5"]
    assert conversation.fields[FIELD_ID] == "2"
    assert len(conversation.notes) == 2 and "version 2" in conversation.notes[1]["text"]


def test_a_token_near_its_expiry_is_replaced(desk, helpscout, smtp_server, monkeypatch):
    _solved_and_rated(desk, 5)
    first = next(iter(helpscout.tokens))
    later = ADAPTER.tokens.clock() + 172800 - 60  # within the refresh margin before the 48 hours run out
    monkeypatch.setattr(ADAPTER.tokens, "clock", lambda: later)
    desk.rate(3, message=smtp_server.messages[-1])
    desk.run_jobs()
    assert len(helpscout.token_requests) == 2
    assert helpscout.calls[-1].authorization != f"Bearer {first}"
    assert latest_write_back().status == "delivered"


def test_a_401_drops_the_cached_token_and_fetches_a_new_one(desk, helpscout, smtp_server):
    _solved_and_rated(desk, 5)
    helpscout.revoke_tokens()  # e.g. the app secret was rotated
    desk.rate(4, message=smtp_server.messages[-1])
    desk.run_jobs()
    path = f"/v2/conversations/{CONVERSATION}"
    assert [(c.method, c.path) for c in helpscout.calls[5:]] == [
        ("GET", path),
        ("POST", "/v2/oauth2/token"),
        ("GET", path),
        ("PUT", f"{path}/tags"),
        ("PUT", f"{path}/fields"),
        ("POST", f"{path}/notes"),
    ]
    assert latest_write_back().status == "delivered"
    assert helpscout.conversations[CONVERSATION].tags[-1] == "csat_4_of_5"


def test_wrong_app_secret_is_parked_with_help_scouts_error(app, client, helpscout, smtp_server):
    desk = Desk(client, helpscout, smtp_server, app_secret="not-the-secret")
    _solved_and_rated(desk, 4)
    parked = desk.api("/api/v1/write-backs?status=parked").get_json()["write_backs"]
    assert len(parked) == 1
    assert "HTTP 401" in parked[0]["last_error"]  # never the body (security.md)
    assert _api_calls(helpscout) == []


def test_429_waits_for_x_ratelimit_retry_after_then_delivers(desk, helpscout, clock):
    helpscout.fail_next(429, retry_after=120, after=1)  # the token passes, the GET is rate limited
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1) and "HTTP 429" in wb.last_error
    assert wb.next_attempt_at >= clock.now + timedelta(seconds=120)
    calls = len(helpscout.calls)
    clock.advance(seconds=100)
    desk.run_jobs()
    assert len(helpscout.calls) == calls  # not due yet: nothing sent
    clock.advance(seconds=21)
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert helpscout.conversations[CONVERSATION].tags == ["vpn", "vip", "csat_4_of_5"]
    assert len(helpscout.conversations[CONVERSATION].notes) == 1


def test_server_error_is_retried_without_writing_the_note_twice(desk, helpscout, clock):
    desk.post(fixture("convo_status_closed.json"))
    desk.run_jobs()
    helpscout.fail_next(500, after=4)  # token, GET, tags and fields pass; the note fails
    desk.rate(4)
    desk.run_jobs()
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1) and "HTTP 500" in wb.last_error
    assert wb.next_attempt_at > clock.now + timedelta(seconds=10)
    clock.advance(hours=1)
    desk.run_jobs()
    assert latest_write_back().status == "delivered"
    assert len(helpscout.conversations[CONVERSATION].notes) == 1
    assert helpscout.conversations[CONVERSATION].tags == ["vpn", "vip", "csat_4_of_5"]


def test_unknown_custom_field_is_parked_with_help_scouts_error_text(desk, helpscout):
    del helpscout.field_names[FIELD_ID]
    _solved_and_rated(desk, 4)
    wb = latest_write_back()
    assert wb.status == "parked" and "HTTP 400" in wb.last_error
    assert "HTTP 400" in wb.last_error  # never the body (security.md)
    assert helpscout.conversations[CONVERSATION].notes == []  # the note comes last: nothing half-written twice


def test_without_custom_field_option_no_fields_are_written(app, client, helpscout, smtp_server):
    desk = Desk(client, helpscout, smtp_server, options={})
    _solved_and_rated(desk, 3)
    assert ("PUT", f"/v2/conversations/{CONVERSATION}/fields") not in _api_calls(helpscout)
    assert helpscout.conversations[CONVERSATION].fields == {OTHER_FIELD_ID: "33077"}


def test_a_merged_conversation_is_written_under_its_new_id(desk, helpscout):
    helpscout.conversations[CONVERSATION].moved_to = 2391938200
    helpscout.add_conversation(2391938200, tags=["merged"])
    _solved_and_rated(desk, 5)
    assert latest_write_back().status == "delivered"
    assert helpscout.conversations[2391938200].tags == ["merged", "csat_5_of_5"]
    assert len(helpscout.conversations[2391938200].notes) == 1


# --- the whole loop, through the HTTP contract only --------------------------------------------------------------


def test_end_to_end_event_mail_click_confirm_write_back(desk, helpscout, smtp_server):
    assert desk.post(fixture("convo_status_closed.json")).status_code == 202
    desk.run_jobs()
    (mail,) = smtp_server.messages
    assert mail["To"] == "Dana Customer <dana@customer.test>"
    desk.rate(5, "Great", message=mail)
    desk.run_jobs()
    path = f"/v2/conversations/{CONVERSATION}"
    assert [(c.method, c.path) for c in helpscout.calls] == [
        ("POST", "/v2/oauth2/token"),
        ("GET", path),
        ("PUT", f"{path}/tags"),
        ("PUT", f"{path}/fields"),
        ("POST", f"{path}/notes"),
    ]
    conversation = helpscout.conversations[CONVERSATION]
    assert conversation.tags == ["vpn", "vip", "csat_5_of_5"]
    assert "Comment: Great" in conversation.notes[0]["text"]
    ratings = desk.api(f"/api/v1/ratings?ticket_id={CONVERSATION}").get_json()["ratings"]
    assert [(r["score"], r["agent_email"], r["status"]) for r in ratings] == [(5, "sam@acme.test", "counted")]


@pytest.mark.parametrize("body", [b'{"id": 123}', b"", b"[]"])
def test_the_test_ping_is_200_whatever_its_undocumented_body(desk, body):
    """helpscout.test's body is not documented; Help Scout's PHP client tests it with {"id": 123}.

    Any JSON, or none, answers 200; a body that is not JSON at all is refused at the edge (400) before any adapter
    reads it, as for every platform (docs/reliability.md)."""
    if body == b'{"id": 123}':
        assert body.strip() == fixture_bytes_helpscout("helpscout_test_client.json").strip()
    response = desk.post(body, event="helpscout.test")
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")


def fixture_bytes_helpscout(name: str) -> bytes:
    from tests.platforms.support import fixture_bytes

    return fixture_bytes("helpscout", name)


def test_a_customer_with_a_mobile_number_gets_the_survey_by_sms(app, desk, helpscout):
    """GET /v2/customers/{id}/phones in the lookup job (only for an account that can send SMS); mobile first."""
    helpscout.customer_phones[238604] = [("222-333-4444", "work"), ("+44 7700 900123", "mobile")]
    with twilio_for(app, desk.key) as twilio:
        assert desk.post(fixture("convo_status_closed.json")).status_code == 202
        desk.run_jobs()
        survey = latest_survey("2391938111")
        assert (survey.channel, survey.requester_phone, survey.status) == ("sms", "+447700900123", "sent")
        assert [m["to"] for m in twilio.messages] == ["+447700900123"]
    assert len(helpscout.calls_to("/v2/customers/238604/phones")) == 1


def test_an_email_only_account_never_asks_for_phones(desk, helpscout, smtp_server):
    helpscout.customer_phones[238604] = [("+44 7700 900123", "mobile")]
    assert desk.post(fixture("convo_status_closed.json")).status_code == 202
    desk.run_jobs()
    assert latest_survey("2391938111").channel == "email" and len(smtp_server.messages) == 1
    assert helpscout.calls_to("/v2/customers/238604/phones") == []
