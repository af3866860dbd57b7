"""WhatsApp through Twilio, end to end over HTTP: ticket solved -> the Content template (quick replies) at the
emulator -> a signed button tap -> rating counted -> write-back -> free-form follow-up -> comment stored; STOP then
nothing on WhatsApp; 63016 resends as the template; 63003 falls back to email; status callbacks in any order."""

from __future__ import annotations

import json
import random

import pytest
import requests

from plugin.models import ChannelMessage, Survey, Unsubscribe
from tests.channels import viewer
from tests.channels.conftest import api, post_event, stored
from tests.channels.emulators import TwilioEmulator
from tests.conftest import run_jobs
from tests.support.cli import add_channel, cli

OURS, THEIRS = "+15005550006", "+48500100200"
CONTENT_SID = "HX" + "b" * 32
# The twilio/quick-reply template docs/channels.md tells the admin to create: the ticket is {{1}}, the buttons'
# ids are {{2}}..{{6}} (the signed score of each button, filled in at send time), the titles fixed per language.
TEMPLATE = {
    "body": "How would you rate the support you received? (#{{1}})",
    "actions": [
        {"id": "{{2}}", "title": "1 Very dissatisfied"},
        {"id": "{{3}}", "title": "2 Dissatisfied"},
        {"id": "{{4}}", "title": "3 Neutral"},
        {"id": "{{5}}", "title": "4 Satisfied"},
        {"id": "{{6}}", "title": "5 Very satisfied"},
    ],
}


@pytest.fixture
def twilio(live, desk):
    app, _ = live
    with TwilioEmulator() as emulator:
        emulator.whatsapp_senders.add(OURS)
        emulator.content[CONTENT_SID] = TEMPLATE
        out = add_channel(
            app,
            desk.account.key,
            "twilio-whatsapp",
            account_sid=emulator.account_sid,
            auth_token=emulator.auth_token,
            from_=f"whatsapp:{OURS}",
            content_sid=CONTENT_SID,
            api_url=emulator.url,
        )
        assert out["inbound_url"] == f"{desk.base}/inbound/twilio-whatsapp/{desk.account.key}"
        assert (out["channel"], out["from"], out["content_sid"]) == ("whatsapp", OURS, CONTENT_SID)
        assert emulator.auth_token not in json.dumps(out)
        emulator.inbound_url = out["inbound_url"]
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


def test_template_tap_counted_written_back_follow_up_commented_then_stop(twilio, desk, http_recorder):
    assert post_event(desk, "T-1", THEIRS).status_code == 202
    run_jobs()
    [question] = twilio.messages
    assert (question["to"], question["from"]) == (f"whatsapp:{THEIRS}", f"whatsapp:{OURS}")
    assert question["content_sid"] == CONTENT_SID and "Body" not in question["sent"]
    assert question["rendered"]["body"] == "How would you rate the support you received? (#T-1)"
    assert all(button["id"].startswith("r:") for button in question["rendered"]["buttons"])
    assert all(r.status_code == 200 for r in twilio.settle(question))

    answer = twilio.tap(question, 3)
    assert answer.status_code == 200 and "<Response>" in answer.text
    run_jobs()
    rating = _rating(desk, "T-1")
    assert (rating["score"], rating["status"], rating["channel"]) == (4, "counted", "whatsapp")
    assert http_recorder.requests[-1].json()["rating"]["score"] == 4  # written back at once
    follow_up = twilio.messages[1]
    assert follow_up["content_sid"] is None and "improve" in follow_up["body"]  # free-form: the tap opened it
    assert follow_up["fate"] == "delivered"

    twilio.whatsapp_reply(THEIRS, OURS, "Answers on Sunday would be great")
    run_jobs()
    assert _rating(desk, "T-1")["comment"] == "Answers on Sunday would be great"
    assert http_recorder.requests[-1].json()["rating"]["comment"] == "Answers on Sunday would be great"
    assert len(twilio.messages) == 2

    twilio.whatsapp_reply(THEIRS, OURS, "STOP")
    run_jobs()
    assert [u.email for u in stored(Unsubscribe)] == [THEIRS]
    post_event(desk, "T-2", THEIRS)
    run_jobs()
    assert len(twilio.messages) == 2  # nothing more on WhatsApp
    [second] = [s for s in stored(Survey) if s.ticket_id == "T-2"]
    assert (second.channel, second.status) == ("email", "sent")


def test_inside_the_session_a_free_form_question_answered_by_a_typed_digit(twilio, desk):
    twilio.whatsapp_reply(THEIRS, OURS, "any news on my ticket?")  # opens the 24-hour session
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [question] = twilio.messages
    assert question["content_sid"] is None and "1 to 5" in question["body"] and question["fate"] == "delivered"
    twilio.whatsapp_reply(THEIRS, OURS, "2", quoting=question["sid"])
    run_jobs()
    assert _rating(desk, "T-1")["score"] == 2


def test_63016_outside_the_session_resends_as_the_template(twilio, desk):
    twilio.whatsapp_reply(THEIRS, OURS, "hello")
    twilio.last_inbound[THEIRS] -= 25 * 3600  # Twilio's session closed although our records show a recent message
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [free_form] = twilio.messages
    assert free_form["content_sid"] is None and free_form["fate"] == "63016"
    [callback] = twilio.settle(free_form)
    assert callback.status_code == 200
    run_jobs()
    template = twilio.messages[-1]
    assert template["content_sid"] == CONTENT_SID
    failed = next(
        m for m in stored(ChannelMessage) if m.provider_message_id == free_form["sid"] and m.direction == "out"
    )
    assert (failed.status, failed.error_code) == ("failed", "63016")
    assert stored(Survey)[0].status == "sent"
    twilio.tap(template, 4)
    run_jobs()
    assert _rating(desk, "T-1")["score"] == 5


def test_63003_not_on_whatsapp_falls_back_to_email(twilio, desk):
    twilio.not_on_whatsapp.add(THEIRS)
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [question] = twilio.messages
    twilio.settle(question)
    run_jobs()
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("email", "sent")
    [failed] = [m for m in stored(ChannelMessage) if m.kind == "question"]
    assert (failed.status, failed.error_code) == ("failed", "63003")


def test_63007_a_from_that_is_no_whatsapp_sender_falls_back_to_email(twilio, desk):
    twilio.whatsapp_senders.clear()
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("email", "sent")
    [question] = [m for m in stored(ChannelMessage) if m.kind == "question"]
    assert (question.status, question.error_code) == ("failed", "63007")


def test_status_callbacks_duplicated_and_out_of_order_keep_the_furthest_state(twilio, desk):
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [question] = twilio.messages
    order = ["sent", "delivered", "read", "sent", "read", "queued", "delivered"]
    random.Random(seed).shuffle(order)
    for status in order:
        assert twilio.status(question, status).status_code == 200
    [row] = [m for m in stored(ChannelMessage) if m.kind == "question"]
    assert row.status == "read"


def test_bad_signature_unknown_account_malformed(twilio, desk):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    before = len(stored(ChannelMessage))
    assert twilio.reply(f"whatsapp:{THEIRS}", f"whatsapp:{OURS}", "5", token="not-the-token").status_code == 401
    url = twilio.inbound_url
    assert requests.post(url.replace(desk.account.key, "nobody"), data={}, timeout=10).status_code == 404
    assert twilio._post(url, {"AccountSid": twilio.account_sid, "Body": "5"}).status_code == 400  # no MessageSid
    assert len(stored(ChannelMessage)) == before and _rating(desk, "T-1") is None


def test_the_setup_refuses_what_cannot_work(live, desk):
    app, _ = live
    runner = app.test_cli_runner()
    base = ["channels", "add", "--account", desk.account.key, "--provider", "twilio-whatsapp"]
    base += ["--account-sid", "AC" + "0" * 32, "--auth-token", "t", "--from", OURS]
    assert "--content-sid" in runner.invoke(args=base).output
    assert "HX and 32 hex" in runner.invoke(args=[*base, "--content-sid", "ticket_rating"]).output
    bad_from = [*base[:-2], "--from", "whatsapp:0800", "--content-sid", CONTENT_SID]
    assert "E.164" in runner.invoke(args=bad_from).output


def test_one_content_template_per_language(twilio, desk, live):
    app, _ = live
    greek = "HX" + "e1" * 16
    twilio.content[greek] = {
        "body": "Πώς θα αξιολογούσατε την υποστήριξη που λάβατε; (#{{1}})",
        "actions": [{"id": f"{{{{{n}}}}}", "title": f"{n - 1}"} for n in range(2, 7)],
    }
    args = ["channels", "add", "--account", desk.account.key, "--provider", "twilio-whatsapp", "--from", OURS]
    args += ["--account-sid", twilio.account_sid, "--auth-token", twilio.auth_token, "--api-url", twilio.url]
    cli(app, *args, "--content-sid", f"en={CONTENT_SID},el={greek}")
    post_event(desk, "T-1", THEIRS, requester={"email": "eleni@customer.test", "locale": "el", "phone": THEIRS})
    post_event(desk, "T-2", "+48500100201", requester={"email": "li@customer.test", "locale": "zh-CN"})
    run_jobs()
    by_to = {m["to"]: m for m in twilio.messages}
    assert by_to[f"whatsapp:{THEIRS}"]["content_sid"] == greek
    assert by_to[f"whatsapp:{THEIRS}"]["rendered"]["body"].endswith("(#T-1)")
    assert by_to["whatsapp:+48500100201"]["content_sid"] == CONTENT_SID  # no Chinese template: the first one


def test_rendering_of_the_payloads_the_emulator_received(twilio, desk, browser):
    """docs/img/channels-twilio-whatsapp.png: the Content template as filled from the ContentVariables received."""
    post_event(desk, "4711", THEIRS)
    run_jobs()
    twilio.tap(twilio.messages[0], 3)
    run_jobs()
    twilio.whatsapp_reply(THEIRS, OURS, "Quick and friendly, thanks")
    run_jobs()
    question, follow_up = twilio.messages
    tap, comment = twilio.inbound
    thread = [
        ("business", viewer.twilio_bubble(question)),
        ("customer", tap["ButtonText"]),
        ("business", viewer.twilio_bubble(follow_up)),
        ("customer", comment["Body"]),
    ]
    label = (
        "RENDERING of the Messages API requests the Twilio emulator received from OpenCSAT (the Content template "
        "filled with the ContentVariables sent). Not a screenshot of WhatsApp."
    )
    html = viewer.page("Acme Support (WhatsApp via Twilio)", "#008069", label, thread, question["sent"])
    text = viewer.screenshot(browser, "channels-twilio-whatsapp.png", html)
    assert "How would you rate the support you received? (#4711)" in text
    assert "4 Satisfied" in text and "What could we improve?" in text
    assert _rating(desk, "4711")["comment"] == "Quick and friendly, thanks"
