"""Chatwoot: signed `conversation_status_changed` in, private note + merged labels + custom attribute out."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from functools import partial

import pytest

from plugin.services import services
from tests.emulators.chatwoot import ChatwootEmulator
from tests.platforms.support import (
    PlatformAccount,
    counts,
    fixture_bytes,
    latest_survey,
    latest_write_back,
    make_write_backs_due,
    rate,
    run_jobs,
)

SECRET = "cw-webhook-secret-0123"
CONVERSATION = "/api/v1/accounts/1/conversations/10"
fixture = partial(fixture_bytes, "chatwoot")


@pytest.fixture
def desk():
    with ChatwootEmulator(account_id=1, token="cw-token") as emulator:
        emulator.add_conversation(10, labels=["billing", "vip"], custom_attributes={"order_id": "A-17"})
        emulator.agents.append({"id": 1, "name": "John", "email": "john@acme.test", "role": "agent"})
        yield emulator


class Account(PlatformAccount):
    """One Chatwoot account pointed at the emulator; posts the (signed) bodies it is given."""

    def __init__(self, client, desk, **settings) -> None:
        super().__init__(
            client,
            "chatwoot",
            name="Acme",
            api_url=desk.url,
            **{
                "webhook_secret": SECRET,
                "api_token": "cw-token",
                "options": {"custom_attribute": "csat_score"},
                **settings,
            },
        )

    def post(self, body: bytes, headers: dict | None = None):
        return self.client.post(self.url, data=body, content_type="application/json", headers=headers or {})


@pytest.fixture
def account(app, client, desk):
    return Account(client, desk)


def signed(body: bytes, *, secret: str = SECRET, timestamp: int | None = None, delivery: str | None = None) -> dict:
    """The headers Chatwoot sends: sha256=<hex HMAC-SHA256(secret, "<ts>." + body)>, timestamp, delivery id."""
    ts = str(int(services().clock().timestamp()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Chatwoot-Signature": f"sha256={digest}",
        "X-Chatwoot-Timestamp": ts,
        "X-Chatwoot-Delivery": delivery or str(uuid.uuid4()),
    }


def solve_and_rate(account, smtp_server, score: int = 4, comment: str = "") -> None:
    body = fixture("conversation_resolved.json")
    assert account.post(body, signed(body)).status_code == 202
    run_jobs()
    rate(account.client, smtp_server.messages[-1], score, comment)


def test_signed_resolved_event_is_accepted_and_the_agent_looked_up(account, desk):
    body = fixture("conversation_resolved.json")
    response = account.post(body, signed(body))
    assert response.status_code == 202
    assert (response.get_json()["event"], response.get_json()["ticket_id"]) == ("solved", "10")
    run_jobs()
    assert [(c.method, c.path, c.headers["api_access_token"]) for c in desk.calls] == [
        ("GET", f"{CONVERSATION}/messages", "cw-token"),  # Chatwoot's own survey? (none here)
        ("GET", "/api/v1/accounts/1/agents", "cw-token"),
    ]
    row = latest_survey()
    assert (row.ticket_id, row.requester_email, row.requester_name) == ("10", "jane@acme.inc", "jane")
    assert (row.agent_id, row.agent_email, row.agent_name, row.team) == ("1", "john@acme.test", "John", "second-line")
    assert row.ticket_url == f"{desk.url}/app/accounts/1/conversations/10"
    assert row.status == "sent"


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda h, b: {**h, "X-Chatwoot-Signature": "sha256=" + "0" * 64}, "does not match"),
        (lambda h, b: {k: v for k, v in h.items() if k != "X-Chatwoot-Signature"}, "has a webhook secret"),
        (lambda h, b: {**h, **signed(b, secret="another-secret")}, "does not match"),
    ],
)
def test_wrong_or_missing_signature_is_401(account, tamper, reason):
    body = fixture("conversation_resolved.json")
    response = account.post(body, tamper(signed(body), body))
    assert response.status_code == 401
    assert reason in response.get_json()["message"]
    assert counts() == (0, 0)


def test_body_changed_after_signing_is_401(account):
    body = fixture("conversation_resolved.json")
    headers = signed(body)
    response = account.post(body.replace(b"jane@acme.inc", b"mallory@evil.test"), headers)
    assert response.status_code == 401


@pytest.mark.parametrize("offset, status", [(-301, 401), (301, 401), (-290, 202)])
def test_replay_window_is_five_minutes(account, clock, offset, status):
    body = fixture("conversation_resolved.json")
    response = account.post(body, signed(body, timestamp=int(clock().timestamp()) + offset))
    assert response.status_code == status


def test_a_redelivery_is_a_duplicate_and_sends_one_survey(account, smtp_server):
    body = fixture("conversation_resolved.json")
    headers = signed(body, delivery="3f2a9c1e-8d51-4b7e-9a0c-5e1f2d3c4b5a")
    answers = [account.post(body, headers).status_code for _ in range(3)]
    run_jobs()
    run_jobs()
    assert answers == [202, 200, 200]
    assert counts() == (1, 1)
    assert len(smtp_server.messages) == 1


def test_unsigned_mode_accepts_older_chatwoot_and_dedupes_on_the_body(app, client, desk):
    account = Account(client, desk, webhook_secret=None, options={"unsigned": "true"})
    body = fixture("conversation_resolved.json")
    assert [account.post(body).status_code for _ in range(2)] == [202, 200]
    assert account.post(body, {"X-Chatwoot-Signature": "sha256=00", "X-Chatwoot-Timestamp": "1"}).status_code == 401


def test_snoozed_is_ignored(account):
    body = fixture("conversation_snoozed.json")
    response = account.post(body, signed(body))
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")


def test_reopen_cancels_the_unsent_survey(app, client, desk, smtp_server):
    account = Account(client, desk, delay_minutes=60)
    resolved, reopened = fixture("conversation_resolved.json"), fixture("conversation_reopened.json")
    account.post(resolved, signed(resolved))
    run_jobs()  # the agent lookup; the survey waits its 60 minutes
    response = account.post(reopened, signed(reopened))
    assert (response.status_code, response.get_json()["event"]) == (202, "reopened")
    run_jobs()
    assert [s["status"] for s in account.api("/api/v1/surveys?ticket_id=10").get_json()["surveys"]] == ["cancelled"]
    assert smtp_server.messages == []


def test_write_back_makes_exactly_these_requests_and_keeps_other_labels(account, desk, smtp_server):
    solve_and_rate(account, smtp_server, 4, "Quick and kind")
    calls_before = len(desk.calls)
    run_jobs()
    assert latest_write_back().status == "delivered"
    conversation = desk.conversations[10]
    note = conversation.messages[0]["content"]
    assert [(c.method, c.path, c.body) for c in desk.calls[calls_before:]] == [
        ("GET", f"{CONVERSATION}/labels", None),
        ("POST", f"{CONVERSATION}/labels", {"labels": ["billing", "vip", "csat_4_of_5"]}),
        ("GET", CONVERSATION, None),
        ("POST", f"{CONVERSATION}/custom_attributes", {"custom_attributes": {"order_id": "A-17", "csat_score": 4}}),
        ("POST", f"{CONVERSATION}/messages", {"content": note, "message_type": "outgoing", "private": True}),
    ]
    assert all(c.headers["api_access_token"] == "cw-token" for c in desk.calls)
    assert conversation.labels == ["billing", "vip", "csat_4_of_5"]
    assert "Customer rating: 4/5" in note and "Quick and kind" in note and "John" in note


def test_a_changed_rating_replaces_our_label_only(account, desk, smtp_server):
    solve_and_rate(account, smtp_server, 4)
    run_jobs()
    rate(account.client, smtp_server.messages[-1], 2)
    run_jobs()
    conversation = desk.conversations[10]
    assert conversation.labels == ["billing", "vip", "csat_2_of_5"]
    assert conversation.custom_attributes == {"order_id": "A-17", "csat_score": 2}
    assert len(conversation.messages) == 2 and all(m["private"] is True for m in conversation.messages)


def test_account_id_option_is_used_when_given(app, client, desk, smtp_server):
    desk.account_id = 7
    account = Account(client, desk, options={"account_id": "7"})
    solve_and_rate(account, smtp_server)
    run_jobs()
    assert latest_write_back().status == "delivered"
    assert desk.calls[-1].path == "/api/v1/accounts/7/conversations/10/messages"


def test_429_waits_at_least_retry_after_then_delivers(account, desk, smtp_server, clock):
    solve_and_rate(account, smtp_server)
    desk.fail_next(429, {"error": "Retry later"}, {"Retry-After": "90"})
    run_jobs()
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1)
    assert wb.next_attempt_at >= clock() + timedelta(seconds=90)
    calls = len(desk.calls)
    clock.advance(seconds=89)
    run_jobs()
    assert len(desk.calls) == calls  # not due yet
    clock.advance(seconds=2)
    run_jobs()
    assert latest_write_back().status == "delivered"


def test_429_without_retry_after_backs_off(account, desk, smtp_server, clock):
    solve_and_rate(account, smtp_server)
    desk.fail_next(429, {"error": "Retry later"})
    run_jobs()
    wb = latest_write_back()
    assert wb.status == "pending" and wb.next_attempt_at >= clock() + timedelta(seconds=15)


def test_500_is_retried_then_delivered(account, desk, smtp_server):
    solve_and_rate(account, smtp_server)
    desk.fail_next(500, {"error": "Internal Server Error"})
    run_jobs()
    assert latest_write_back().status == "pending" and "HTTP 500" in latest_write_back().last_error
    make_write_backs_due()
    run_jobs()
    assert latest_write_back().status == "delivered"
    assert desk.conversations[10].labels == ["billing", "vip", "csat_4_of_5"]


def test_a_wrong_token_is_parked_with_chatwoots_error(app, client, desk, smtp_server):
    account = Account(client, desk, api_token="not-the-token")
    solve_and_rate(account, smtp_server)
    run_jobs()
    parked = account.api("/api/v1/write-backs?status=parked").get_json()["write_backs"]
    assert len(parked) == 1 and "HTTP 401" in parked[0]["last_error"]  # never the body (security.md)


def test_end_to_end_through_http_only(account, desk, smtp_server):
    body = fixture("conversation_resolved.json")
    assert account.post(body, signed(body)).status_code == 202
    run_jobs()
    (mail,) = smtp_server.messages
    assert mail["To"] == "jane <jane@acme.inc>"
    rate(account.client, mail, 5, comment=None)
    run_jobs()
    conversation = desk.conversations[10]
    assert conversation.labels == ["billing", "vip", "csat_5_of_5"]
    assert conversation.custom_attributes["csat_score"] == 5
    assert conversation.messages[0]["private"] is True and "5/5" in conversation.messages[0]["content"]
    ratings = account.api("/api/v1/ratings?ticket_id=10").get_json()["ratings"]
    assert [(r["score"], r["agent_email"], r["status"]) for r in ratings] == [(5, "john@acme.test", "counted")]


def test_fixture_is_the_documented_shape():
    data = json.loads(fixture("conversation_resolved.json"))
    assert data["event"] == "conversation_status_changed"
    assert data["changed_attributes"] == [{"status": {"previous_value": "open", "current_value": "resolved"}}]
    assert "email" not in data["meta"]["assignee"]


# --- issue 12: bot-assigned conversations, Chatwoot's own CSAT, unsigned deliveries, dedupe on signed content ---


def _seed_messages(desk, conversation_id: int = 10, *, with_csat: bool) -> None:
    """The conversation's messages as GET .../messages lists them (tests/fixtures/chatwoot/SOURCES.md)."""
    payload = json.loads(fixture("messages_with_csat_survey.json"))["payload"]
    desk.conversations[conversation_id].messages = [
        m for m in payload if with_csat or m.get("content_type") != "input_csat"
    ]


def test_a_bot_assignee_is_never_credited_to_the_human_with_the_same_id(account, desk):
    _seed_messages(desk, with_csat=False)
    body = fixture("conversation_resolved_by_bot.json")
    assert account.post(body, signed(body)).status_code == 202
    run_jobs()
    row = latest_survey()
    assert row.status == "sent"
    assert row.agent_email != "john@acme.test"  # John is human agent 1; the bot is AgentBot 1
    assert (row.agent_id, row.agent_email, row.agent_name) == ("agent_bot:1", None, "Acme Helper Bot")
    assert ("GET", "/api/v1/accounts/1/agents") not in [(c.method, c.path) for c in desk.calls]


def test_a_bot_assignee_can_be_attributed_to_the_last_human_who_replied(app, client, desk):
    account = Account(client, desk, options={"custom_attribute": "csat_score", "bot_attribution": "last_human"})
    desk.agents.append({"id": 2, "name": "Priya", "email": "priya@acme.test", "role": "agent"})
    _seed_messages(desk, with_csat=False)
    body = fixture("conversation_resolved_by_bot.json")
    assert account.post(body, signed(body)).status_code == 202
    run_jobs()
    row = latest_survey()
    assert (row.agent_id, row.agent_email, row.agent_name) == ("2", "priya@acme.test", "Priya")


def test_a_conversation_chatwoot_already_surveyed_is_skipped_with_the_reason(account, desk, smtp_server):
    _seed_messages(desk, with_csat=True)
    body = fixture("conversation_resolved.json")
    assert account.post(body, signed(body)).status_code == 202
    run_jobs()
    row = latest_survey()
    assert (row.status, row.reason) == ("skipped", "helpdesk_survey")
    assert smtp_server.messages == []


def test_unsigned_deliveries_are_refused_while_a_secret_is_set(app, client, desk):
    account = Account(client, desk, options={"unsigned": "true"})  # a secret is set as well
    body = fixture("conversation_resolved.json")
    response = account.post(body)
    assert response.status_code == 401
    assert counts() == (0, 0)


def test_a_new_delivery_header_on_the_same_signed_body_is_a_duplicate(account, smtp_server):
    """X-Chatwoot-Delivery is not signed (the HMAC covers timestamp and body only): it cannot make a replay new."""
    body = fixture("conversation_resolved.json")
    answers = [account.post(body, signed(body)).status_code for _ in range(3)]  # a fresh uuid each time
    run_jobs()
    assert answers == [202, 200, 200]
    assert counts() == (1, 1)
    assert len(smtp_server.messages) == 1


def test_a_webhook_whose_last_message_is_chatwoots_survey_is_skipped_even_without_a_token(app, client, desk):
    """The body's `messages` is `[messages.chat.last]`: Chatwoot's own survey when it was created first."""
    account = Account(client, desk, api_token=None)
    data = json.loads(fixture("conversation_resolved.json"))
    survey = json.loads(fixture("messages_with_csat_survey.json"))["payload"][-1]
    data["messages"] = [{**survey, "account_id": 1, "conversation_id": 10, "message_type": 3}]
    body = json.dumps(data).encode()
    assert account.post(body, signed(body)).status_code == 202
    run_jobs()
    row = latest_survey()
    assert (row.status, row.reason) == ("skipped", "helpdesk_survey")
    assert desk.calls == []
