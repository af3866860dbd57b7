"""WhatsApp Cloud API end to end over HTTP: the template with quick replies outside the 24-hour window, buttons or a
list inside it, NPS typed; taps matched by context.id before the phone; status webhooks; 131047; the handshake."""

from __future__ import annotations

import json

import pytest
import requests

from plugin.channels import whatsapp
from plugin.models import ChannelMessage, Survey, Unsubscribe
from tests.channels import viewer
from tests.channels.conftest import api, post_event, stored
from tests.channels.emulators import WhatsAppEmulator
from tests.conftest import run_jobs
from tests.support.cli import add_channel, cli

WA_ID = "48500100200"
PHONE = "+" + WA_ID


@pytest.fixture
def meta(live, desk):
    app, _ = live
    with WhatsAppEmulator() as emulator:
        emulator.approved_templates.add(("ticket_rating", "en"))
        out = add_channel(
            app,
            desk.account.key,
            "whatsapp",
            phone_number_id=emulator.phone_number_id,
            access_token=emulator.access_token,
            app_secret=emulator.app_secret,
            verify_token="verify-me",
            template="ticket_rating",
            template_language="en",
            api_url=emulator.url,
        )
        assert {"access_token", "app_secret", "verify_token"} <= set(out["secrets_set"])
        assert emulator.access_token not in json.dumps(out) and emulator.app_secret not in json.dumps(out)
        emulator.webhook_url = out["inbound_url"]
        cli(
            app,
            "accounts",
            "update",
            "--account",
            desk.account.key,
            "--channels",
            "whatsapp,email",
            "--throttle-days",
            "0",
        )
        yield emulator


def _rating(desk, ticket: str) -> dict | None:
    rows = api(desk, f"/api/v1/ratings?ticket_id={ticket}")["ratings"]
    return rows[0] if rows else None


def test_the_verification_handshake(meta):
    answer = meta.verify_webhook("verify-me")
    assert (answer.status_code, answer.text) == (200, "1158201444")
    assert meta.verify_webhook("wrong").status_code == 403


def test_outside_the_window_a_template_whose_quick_replies_carry_the_score(meta, desk, http_recorder):
    assert post_event(desk, "T-1", PHONE).status_code == 202
    run_jobs()
    [sent] = meta.messages
    assert sent["type"] == "template" and not sent["in_window"]
    assert sent["template"]["name"] == "ticket_rating" and sent["template"]["language"] == {"code": "en"}
    buttons = [c for c in sent["template"]["components"] if c["type"] == "button"]
    assert [b["index"] for b in buttons] == ["0", "1", "2", "3", "4"]
    assert all(b["sub_type"] == "quick_reply" for b in buttons)

    assert meta.tap_quick_reply(WA_ID, sent, 3).status_code == 200
    run_jobs()
    rating = _rating(desk, "T-1")
    assert (rating["score"], rating["status"], rating["channel"]) == (4, "counted", "whatsapp")
    assert http_recorder.requests[-1].json()["rating"]["score"] == 4
    follow_up = meta.messages[1]
    assert follow_up["type"] == "text" and follow_up["in_window"]  # the tap opened the window
    meta.text(WA_ID, "Faster answers please")
    run_jobs()
    assert _rating(desk, "T-1")["comment"] == "Faster answers please"


@pytest.mark.parametrize(("scale", "kind"), [("csat3", "button"), ("csat5", "list"), ("ces7", "list")])
def test_inside_the_window_buttons_up_to_three_a_list_up_to_ten(meta, desk, live, scale, kind):
    app, _ = live
    cli(app, "accounts", "update", "--account", desk.account.key, "--scale", scale)
    meta.text(WA_ID, "hi, any news on my ticket?")  # the customer wrote: the window is open
    post_event(desk, "T-1", PHONE)
    run_jobs()
    [sent] = meta.messages
    assert sent["type"] == "interactive" and sent["interactive"]["type"] == kind
    meta.tap_interactive(WA_ID, sent, 1)
    run_jobs()
    assert _rating(desk, "T-1")["score"] == 2


def test_nps_is_a_typed_number_inside_the_window(meta, desk, live):
    app, _ = live
    cli(app, "accounts", "update", "--account", desk.account.key, "--scale", "nps")
    meta.text(WA_ID, "thanks")
    post_event(desk, "T-1", PHONE)
    run_jobs()
    [sent] = meta.messages
    assert sent["type"] == "text" and "0 to 10" in sent["text"]["body"]
    meta.text(WA_ID, "9", context_id=sent["id"])
    run_jobs()
    assert _rating(desk, "T-1")["score"] == 9


def test_a_reply_is_matched_by_context_id_before_the_phone(meta, desk):
    post_event(desk, "T-1", PHONE)
    run_jobs()
    first = meta.messages[0]
    post_event(desk, "T-2", PHONE)  # a later survey to the same person
    run_jobs()
    # A user with a username (BSUID) may answer without their phone: the context.id still names the survey.
    meta.user_message("US.13491208655302741918", {"type": "text", "text": {"body": "2"}}, first["id"])
    run_jobs()
    assert _rating(desk, "T-1")["score"] == 2 and _rating(desk, "T-2") is None


def test_status_webhooks_recorded_and_131047_resends_the_template(meta, desk):
    meta.text(WA_ID, "hello")
    post_event(desk, "T-1", PHONE)
    run_jobs()
    [sent] = meta.messages
    assert sent["type"] == "interactive"
    for status in ("sent", "sent"):  # duplicated
        assert meta.status(sent, status).status_code == 200
    question = next(m for m in stored(ChannelMessage) if m.kind == "question")
    assert question.status == "sent"
    meta.status(sent, "failed", 131047)  # the window had closed by the time it went out
    run_jobs()
    assert meta.messages[-1]["type"] == "template"
    failed = next(m for m in stored(ChannelMessage) if m.provider_message_id == sent["id"] and m.direction == "out")
    assert (failed.status, failed.error_code) == ("failed", "131047")
    assert stored(Survey)[0].status == "sent"


def test_template_not_approved_fails_and_falls_back_to_email(meta, desk):
    meta.approved_templates.clear()
    post_event(desk, "T-1", PHONE)
    run_jobs()
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("email", "sent")
    question = next(m for m in stored(ChannelMessage) if m.kind == "question")
    assert question.error_code == "132001"


def test_stop_on_whatsapp_joins_the_unsubscribe_list(meta, desk):
    post_event(desk, "T-1", PHONE)
    run_jobs()
    meta.text(WA_ID, "STOP")
    run_jobs()
    assert [u.email for u in stored(Unsubscribe)] == [PHONE]
    post_event(desk, "T-2", PHONE)
    run_jobs()
    assert len(meta.messages) == 1


def test_bad_signature_unknown_account_malformed(meta, desk):
    post_event(desk, "T-1", PHONE)
    run_jobs()
    count = len(stored(ChannelMessage))
    assert meta.user_message(WA_ID, {"type": "text", "text": {"body": "1"}}, secret="wrong").status_code == 401
    url = meta.webhook_url
    assert requests.post(url.replace(desk.account.key, "nobody"), data=b"{}", timeout=10).status_code == 404
    body = b'{"object": "page", "entry": []}'
    headers = {"X-Hub-Signature-256": whatsapp.signature(meta.app_secret, body)}
    assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 400
    assert len(stored(ChannelMessage)) == count and _rating(desk, "T-1") is None


# What the approved template says (docs/channels.md), as Meta holds it: the message carries only its name.
TICKET_RATING_EN = {
    "body": "How would you rate the support you received? (#{{1}})",
    "buttons": ["1 Very dissatisfied", "2 Dissatisfied", "3 Neutral", "4 Satisfied", "5 Very satisfied"],
}


def test_rendering_of_the_payloads_the_emulator_received(meta, desk, browser):
    """docs/img/channels-whatsapp.png: the template, the tap, the follow-up and the comment, drawn from the payloads."""
    meta.template_texts[("ticket_rating", "en")] = TICKET_RATING_EN
    post_event(desk, "4711", PHONE)
    run_jobs()
    meta.tap_quick_reply(WA_ID, meta.messages[0], 3)
    run_jobs()
    meta.text(WA_ID, "Quick and friendly, thanks")
    run_jobs()
    question, follow_up = meta.messages
    tap, comment = meta.inbound
    thread = [
        ("business", viewer.meta_bubble(question, meta.template_texts)),
        ("customer", tap["button"]["text"]),
        ("business", viewer.meta_bubble(follow_up, meta.template_texts)),
        ("customer", comment["text"]["body"]),
    ]
    label = (
        "RENDERING of the Cloud API payloads the WhatsApp emulator received from OpenCSAT (the template's text is the "
        "approved template the emulator holds). Not a screenshot of WhatsApp."
    )
    received = next(c.body for c in meta.calls if c.method == "POST" and c.body.get("type") == "template")
    text = viewer.screenshot(
        browser, "channels-whatsapp.png", viewer.page("Acme Support (WhatsApp)", "#008069", label, thread, received)
    )
    assert "How would you rate the support you received? (#4711)" in text
    assert all(title in text for title in TICKET_RATING_EN["buttons"]) and "What could we improve?" in text
    assert _rating(desk, "4711")["comment"] == "Quick and friendly, thanks"
