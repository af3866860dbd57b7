"""In-chat surveys on Chatwoot end to end over HTTP: a resolved live-chat conversation gets the question with
selectable options (input_select) instead of an email, the choice comes back by the message webhook, the follow-up
is asked the same way; a conversation that already holds Chatwoot's own CSAT is not surveyed again."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from html import escape
from pathlib import Path

import pytest
import requests

from plugin.accounts import create_account
from plugin.models import ChannelMessage, Survey
from plugin.services import services
from tests.channels import viewer
from tests.channels.conftest import stored
from tests.channels.emulators import ChatwootChatEmulator
from tests.conftest import run_jobs
from tests.support.cli import cli

SECRET = "cw-webhook-secret-0123"
RESOLVED = Path(__file__).resolve().parent.parent / "fixtures" / "chatwoot" / "conversation_resolved.json"


@pytest.fixture
def chatwoot(live):
    app, base = live
    with ChatwootChatEmulator(account_id=1, token="cw-token", webhook_secret=SECRET) as emulator:
        emulator.add_conversation(10)
        emulator.agents.append({"id": 1, "name": "John", "email": "john@acme.test", "role": "agent"})
        s = services()
        with s.db.session() as session:
            account = create_account(
                session,
                s.box,
                platform="chatwoot",
                name="Acme",
                api_url=emulator.url,
                webhook_secret=SECRET,
                api_token="cw-token",
                delay_minutes=0,
            ).account
        cli(app, "accounts", "update", "--account", account.key, "--channels", "chat,email")
        out = json.loads(cli(app, "channels", "add", "--account", account.key, "--provider", "chatwoot"))
        emulator.webhook_url = out["inbound_url"]
        emulator.key, emulator.base = account.key, base
        yield emulator


def resolve(chatwoot, channel: str = "Channel::WebWidget") -> requests.Response:
    data = json.loads(RESOLVED.read_text())
    data["channel"] = channel
    body = json.dumps(data).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Signature": f"sha256={digest}",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Delivery": uuid.uuid4().hex,
    }
    return requests.post(f"{chatwoot.base}/webhooks/chatwoot/{chatwoot.key}", data=body, headers=headers, timeout=10)


def _rating():
    from plugin.models import Rating

    rows = stored(Rating)
    return rows[0] if rows else None


def test_resolved_chat_is_asked_in_the_conversation_and_the_choice_counts(chatwoot):
    assert resolve(chatwoot).status_code == 202
    run_jobs()
    conversation = chatwoot.conversations[10]
    [question] = conversation.messages
    assert question["content_type"] == "input_select" and question["message_type"] == 1  # outgoing, as the API answers
    items = question["content_attributes"]["items"]
    assert [item["value"] for item in items] == ["1", "2", "3", "4", "5"]
    assert all(set(item) == {"title", "value"} and item["title"][0].isdigit() for item in items)
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("chat", "sent")

    assert chatwoot.choose(10, 1, 4).status_code == 200
    run_jobs()
    rating = _rating()
    assert (rating.score, rating.status) == (5, "counted")
    notes = [m for m in conversation.messages if m.get("private")]
    assert notes and "5/5" in notes[-1]["content"]  # written back as Chatwoot's private note
    follow_up = [m for m in conversation.messages if not m.get("private") and m.get("content_type") != "input_select"]
    assert "improve" in follow_up[0]["content"]

    chatwoot.customer_writes(10, "Quick and friendly")
    run_jobs()
    assert _rating().comment == "Quick and friendly"


def test_a_messaging_inbox_tap_comes_back_as_the_title(chatwoot):
    resolve(chatwoot, "Channel::Whatsapp")
    run_jobs()
    chatwoot.customer_writes(10, "4 - Satisfied")  # Chatwoot stores a WhatsApp button reply's title
    run_jobs()
    assert _rating().score == 4


def test_no_survey_where_chatwoots_own_csat_is_present(chatwoot):
    chatwoot.conversations[10].messages.append(
        {"content": "Rate us", "content_type": "input_csat", "message_type": "template"}
    )
    resolve(chatwoot)
    run_jobs()
    [survey] = stored(Survey)
    assert (survey.status, survey.reason) == ("skipped", "helpdesk_survey")
    assert len(chatwoot.conversations[10].messages) == 1


def test_an_email_inbox_conversation_gets_email(chatwoot):
    resolve(chatwoot, "Channel::Email")
    run_jobs()
    [survey] = stored(Survey)
    assert survey.channel == "email"
    assert chatwoot.conversations[10].messages == []


def test_bad_signature_401_and_nothing_stored(chatwoot):
    resolve(chatwoot)
    run_jobs()
    chatwoot.webhook_secret = "wrong"
    assert chatwoot.choose(10, 1, 2).status_code == 401
    assert _rating() is None and not [m for m in stored(ChannelMessage) if m.direction == "in"]


def test_rendering_of_the_payloads_the_emulator_received(chatwoot, browser):
    """docs/img/channels-chat.png: the input_select question, the choice, the follow-up and the comment, drawn from
    the messages the Chatwoot emulator received (private notes, the write-back, left out: the customer sees none)."""
    resolve(chatwoot)
    run_jobs()
    chatwoot.choose(10, 1, 3)
    run_jobs()
    chatwoot.customer_writes(10, "Quick and friendly, thanks")
    run_jobs()
    messages = [m for m in chatwoot.conversations[10].messages if not m.get("private")]
    thread = []
    for message in messages:
        if message.get("message_type") == "incoming":
            thread.append(("customer", escape(message["content"])))
            continue
        thread.append(("business", viewer.chatwoot_bubble(message)))
        chosen = (message.get("content_attributes") or {}).get("submitted_values")
        if chosen:
            thread.append(("customer", escape(chosen[0]["title"])))
    label = (
        "RENDERING of the messages the Chatwoot emulator received from OpenCSAT (input_select and its items). "
        "Not a screenshot of Chatwoot's widget."
    )
    received = next(
        c.body for c in chatwoot.calls if c.method == "POST" and c.body.get("content_type") == "input_select"
    )
    text = viewer.screenshot(
        browser, "channels-chat.png", viewer.page("Chatwoot web widget", "#1f93ff", label, thread, received)
    )
    assert all(item["title"] in text for item in messages[0]["content_attributes"]["items"])
    assert "Quick and friendly, thanks" in text and _rating().score == 4
