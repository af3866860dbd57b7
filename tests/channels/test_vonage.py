"""SMS through Vonage end to end over HTTP: errors inside an HTTP 200, unicode type for UCS-2 text, inbound SMS and
delivery receipts signed with `sig` (and a timestamp), a reply counted at once with its follow-up comment."""

from __future__ import annotations

import json
import time

import pytest
import requests

from plugin.models import ChannelMessage, Survey
from tests.channels.conftest import api, post_event, stored
from tests.channels.emulators import VonageEmulator, vonage_signature
from tests.conftest import run_jobs
from tests.support.cli import add_channel, cli

OURS, THEIRS = "+447700900000", "+447700900123"


@pytest.fixture
def vonage(live, desk):
    app, _ = live
    with VonageEmulator() as emulator:
        out = add_channel(
            app,
            desk.account.key,
            "vonage",
            api_key=emulator.api_key,
            api_secret=emulator.api_secret,
            signature_secret=emulator.signature_secret,
            from_=OURS,
            api_url=emulator.url,
        )
        assert emulator.api_secret not in json.dumps(out) and emulator.signature_secret not in json.dumps(out)
        emulator.inbound_url = out["inbound_url"]
        cli(app, "accounts", "update", "--account", desk.account.key, "--channels", "sms,email", "--throttle-days", "0")
        yield emulator


def test_vonage_survey_reply_follow_up_and_receipts(vonage, desk, http_recorder):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [sent] = vonage.messages
    assert (sent["to"], sent["from"], sent["type"]) == (THEIRS[1:], OURS[1:], "text")
    assert sent["callback"] == vonage.inbound_url and sent["status-report-req"] == "1"
    for status in ("delivered", "accepted", "delivered"):  # out of order and repeated
        assert vonage.receipt(sent, status).status_code == 200
    question = next(m for m in stored(ChannelMessage) if m.kind == "question")
    assert question.status == "delivered"

    assert vonage.reply(THEIRS, OURS, "2").status_code == 200
    run_jobs()
    [rating] = api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"]
    assert (rating["score"], rating["status"], rating["channel"]) == (2, "counted", "sms")
    assert "improve" in vonage.messages[1]["text"]
    vonage.reply(THEIRS, OURS, "Took three days")
    run_jobs()
    assert api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"][0]["comment"] == "Took three days"
    assert http_recorder.requests[-1].json()["rating"]["comment"] == "Took three days"


def test_ucs2_text_is_sent_as_unicode(vonage, desk):
    event_locale = {"requester": {"email": "li@customer.test", "name": "Li", "locale": "zh-CN", "phone": THEIRS}}
    post_event(desk, "T-1", None, **event_locale)
    run_jobs()
    [sent] = vonage.messages
    assert sent["type"] == "unicode"


def test_a_refusal_inside_http_200_falls_back_to_email(vonage, desk):
    vonage.barred.add(THEIRS[1:])
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("email", "sent")
    question = next(m for m in stored(ChannelMessage) if m.kind == "question")
    assert (question.status, question.error_code) == ("failed", "7")


def test_bad_or_stale_signature_401(vonage, desk):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    params = {
        "msisdn": THEIRS[1:],
        "to": OURS[1:],
        "messageId": "0A0000001",
        "text": "5",
        "type": "text",
        "timestamp": str(int(time.time())),
        "nonce": "n1",
    }
    assert requests.post(vonage.inbound_url, data={**params, "sig": "0" * 32}, timeout=10).status_code == 401
    stale = {**params, "timestamp": str(int(time.time()) - 3600)}
    stale["sig"] = vonage_signature(stale, vonage.signature_secret)
    assert requests.post(vonage.inbound_url, data=stale, timeout=10).status_code == 401
    good = {**params, "sig": vonage_signature(params, vonage.signature_secret)}
    no_id = {key: value for key, value in params.items() if key != "messageId"}
    no_id["sig"] = vonage_signature(no_id, vonage.signature_secret)
    assert requests.post(vonage.inbound_url, data=no_id, timeout=10).status_code == 400
    assert api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"] == []
    assert requests.post(vonage.inbound_url, data=good, timeout=10).status_code == 200
