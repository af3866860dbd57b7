"""SMS through Twilio, end to end over HTTP: ticket solved -> SMS at the emulator -> signed reply -> rating counted
-> write-back -> follow-up -> comment; STOP; provider refusals and retries; status callbacks in any order."""

from __future__ import annotations

import json
import os
import random
from datetime import timedelta

import psycopg
import pytest
import requests
from sqlalchemy import update

from plugin import signing
from plugin.channels import configs
from plugin.db import utcnow
from plugin.models import ChannelMessage, Survey, Unsubscribe
from plugin.services import services
from tests.channels import viewer
from tests.channels.conftest import api, post_event, stored
from tests.channels.emulators import TwilioEmulator
from tests.conftest import POSTGRES, run_jobs
from tests.support.cli import add_channel, cli

OURS, THEIRS = "+15005550006", "+14155550100"


@pytest.fixture
def twilio(live, desk):
    app, _ = live
    with TwilioEmulator() as emulator:
        out = add_channel(
            app,
            desk.account.key,
            "twilio",
            account_sid=emulator.account_sid,
            auth_token=emulator.auth_token,
            from_=OURS,
            api_url=emulator.url,
        )
        assert out["inbound_url"] == f"{desk.base}/inbound/twilio/{desk.account.key}"
        assert emulator.auth_token not in json.dumps(out)  # never printed
        emulator.inbound_url = out["inbound_url"]
        cli(app, "accounts", "update", "--account", desk.account.key, "--channels", "sms,email", "--throttle-days", "0")
        yield emulator


def test_sms_survey_answered_written_back_and_commented(twilio, desk, http_recorder):
    assert post_event(desk, "T-1", "+1 (415) 555-0100").status_code == 202
    run_jobs()
    [question] = twilio.messages
    assert question["to"] == THEIRS and question["from"] == OURS
    assert "Reply 1-5" in question["body"] and "STOP" in question["body"]
    [survey] = api(desk, "/api/v1/surveys?ticket_id=T-1")["surveys"]
    assert survey["status"] == "sent"

    answer = twilio.reply(THEIRS, OURS, "4")
    assert answer.status_code == 200 and "<Response>" in answer.text
    run_jobs()
    [rating] = api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"]
    assert (rating["score"], rating["status"], rating["channel"]) == (4, "counted", "sms")
    assert http_recorder.requests[-1].json()["rating"]["score"] == 4  # written back at once: no settle window
    follow_up = twilio.messages[1]
    assert follow_up["to"] == THEIRS and "improve" in follow_up["body"]

    twilio.reply(THEIRS, OURS, "The printer guide helped")
    run_jobs()
    [rating] = api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"]
    assert rating["comment"] == "The printer guide helped"
    assert http_recorder.requests[-1].json()["rating"]["comment"] == "The printer guide helped"
    assert len(twilio.messages) == 2  # no third message: one follow-up only
    assert api(desk, "/api/v1/channels")["channels"] == [
        {"channel": "sms", "surveys_sent": 1, "responses": 1, "response_rate": 1.0}
    ]
    csv = requests.get(
        desk.base + "/api/v1/ratings.csv?channel=sms", timeout=10, headers={"Authorization": f"Bearer {desk.api_key}"}
    ).text
    assert csv.splitlines()[0].endswith(",channel") and csv.splitlines()[1].endswith(",sms")
    assert api(desk, "/api/v1/ratings?channel=email")["ratings"] == []


def test_a_reply_that_is_no_score_gets_one_help_message_never_a_loop(twilio, desk):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    for text in ("hello?", "what do you mean", "??"):
        twilio.reply(THEIRS, OURS, text)
        run_jobs()
    helps = [m for m in twilio.messages[1:] if "did not get that" in m["body"]]
    assert len(helps) == 1 and len(twilio.messages) == 2
    twilio.reply(THEIRS, OURS, "5")
    run_jobs()
    assert api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"][0]["score"] == 5


def test_stop_then_another_ticket_sends_nothing_by_sms_and_start_lifts_it(twilio, desk):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    twilio.reply(THEIRS, OURS, "STOP")
    run_jobs()
    assert [u.email for u in stored(Unsubscribe)] == [THEIRS]
    assert not api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"]  # STOP is not a rating

    post_event(desk, "T-2", THEIRS)
    run_jobs()
    assert len(twilio.messages) == 1  # nothing more on SMS
    [survey] = [s for s in stored(Survey) if s.ticket_id == "T-2"]
    assert (survey.channel, survey.status) == ("email", "sent")  # the email address still reaches them

    twilio.reply(THEIRS, OURS, "START")
    run_jobs()
    assert stored(Unsubscribe) == []


def test_21610_marks_the_number_opted_out_and_falls_back_to_email(twilio, desk):
    twilio.blocked.add(THEIRS)  # they said STOP to Twilio before we knew
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("email", "sent")
    [question] = [m for m in stored(ChannelMessage) if m.kind == "question"]
    assert (question.status, question.error_code) == ("failed", "21610")
    assert [u.email for u in stored(Unsubscribe)] == [THEIRS]


def test_invalid_number_without_email_fails_with_the_providers_reason(twilio, desk):
    post_event(desk, "T-1", "+1555", email="")  # too short for its country: not a phone at all
    post_event(desk, "T-2", "+15005550001", email="")  # a possible US number; Twilio refuses it
    twilio.messages.clear()
    run_jobs()
    by_ticket = {s.ticket_id: s for s in stored(Survey)}
    assert by_ticket["T-1"].status == "skipped"
    assert by_ticket["T-1"].reason == "invalid_phone: not a possible number for its country (wrong length)"
    assert by_ticket["T-2"].channel == "sms" and by_ticket["T-2"].status == "failed"
    assert "21211" in by_ticket["T-2"].reason  # the provider's code and text, nothing to fall back to
    assert twilio.messages == []


def test_429_retries_no_sooner_than_retry_after(twilio, desk):
    seed = random.randrange(1 << 30)
    wait = random.Random(seed).randint(30, 3600)
    print(f"seed={seed} retry_after={wait}")
    twilio.fail_next(429, retry_after=wait)
    post_event(desk, "T-1", THEIRS)
    before = services().clock()
    run_jobs()
    [survey] = stored(Survey)
    assert survey.status == "scheduled" and survey.scheduled_at >= before + timedelta(seconds=wait)
    with services().db.session() as session:
        session.execute(update(Survey).values(scheduled_at=before))
    run_jobs()
    assert stored(Survey)[0].status == "sent" and len(twilio.messages) == 1


def test_status_callbacks_duplicated_and_out_of_order_keep_the_furthest_state(twilio, desk):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [question] = twilio.messages
    order = ["sent", "delivered", "sent", "delivered", "queued"]
    random.Random(7).shuffle(order)
    for status in order:
        assert twilio.status(question, status).status_code == 200
    [row] = [m for m in stored(ChannelMessage) if m.kind == "question"]
    assert row.status == "delivered"
    twilio.status(question, "undelivered", "30003")  # a failure after delivered is recorded but changes nothing
    assert [m for m in stored(ChannelMessage) if m.kind == "question"][0].status == "delivered"


def test_bad_signature_401_unknown_account_404_malformed_400_nothing_stored(twilio, desk):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    before = len(stored(ChannelMessage))
    assert twilio.reply(THEIRS, OURS, "5", token="not-the-token").status_code == 401
    url = twilio.inbound_url
    twilio.inbound_url = url.replace(desk.account.key, "no-such-account")
    assert twilio.reply(THEIRS, OURS, "5").status_code == 404
    twilio.inbound_url = url
    malformed = twilio._post(url, {"AccountSid": twilio.account_sid, "Body": "5"})  # no MessageSid
    assert malformed.status_code == 400
    assert requests.post(url, data={"Body": "5"}, timeout=10).status_code == 401  # unsigned
    assert requests.post(f"{desk.base}/inbound/twilio/no-such-account", data={}, timeout=10).status_code == 404
    assert requests.post(f"{desk.base}/inbound/twilio/a%00b", data={}, timeout=10).status_code == 400  # NUL: the edge
    assert len(stored(ChannelMessage)) == before
    assert api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"] == []


def test_a_repeated_delivery_counts_once(twilio, desk):
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    for _ in range(3):
        assert twilio.reply(THEIRS, OURS, "3", sid="SM" + "a" * 32).status_code == 200
    run_jobs()
    assert len([m for m in stored(ChannelMessage) if m.kind == "reply"]) == 1
    assert len(twilio.messages) == 2  # the question and one follow-up


def test_the_throttle_is_per_customer_across_channels(twilio, desk, live):
    app, _ = live
    cli(app, "accounts", "update", "--account", desk.account.key, "--throttle-days", "7")
    post_event(desk, "T-1", THEIRS, email="")  # surveyed by SMS
    post_event(desk, "T-2", THEIRS, email="other@customer.test")  # same phone, another address: same customer
    post_event(desk, "T-3", None, email="casey@customer.test")  # someone else entirely
    run_jobs()
    by_ticket = {s.ticket_id: s for s in stored(Survey)}
    assert (by_ticket["T-1"].channel, by_ticket["T-1"].status) == ("sms", "sent")
    assert (by_ticket["T-2"].status, by_ticket["T-2"].reason) == ("skipped", "throttled")
    assert (by_ticket["T-3"].channel, by_ticket["T-3"].status) == ("email", "sent")


def test_reopen_cancels_an_sms_survey_before_it_goes(twilio, desk, live):
    app, _ = live
    cli(app, "accounts", "update", "--account", desk.account.key, "--delay-minutes", "60")
    post_event(desk, "T-1", THEIRS)
    event = desk.event(event="ticket.reopened", ticket_id="T-1")
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", signing.HEADER: signing.sign(desk.secret, body)}
    assert requests.post(desk.base + desk.url, data=body, headers=headers, timeout=10).status_code == 202
    run_jobs()
    assert stored(Survey)[0].status == "cancelled" and twilio.messages == []


def test_a_status_callback_faster_than_our_send_is_not_lost(twilio, desk):
    """Twilio may call back before our send has recorded the message sid: the report is applied once it has."""
    original = twilio.handle

    def handle_then_call_back(request, body):
        status, answer, headers = original(request, body)
        if status == 201:
            twilio.status(answer, "delivered")  # arrives while our send waits for this very answer
        return status, answer, headers

    twilio.handle = handle_then_call_back
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [question] = [m for m in stored(ChannelMessage) if m.kind == "question"]
    assert question.status == "delivered"


def test_rendering_of_the_payloads_the_emulator_received(twilio, desk, browser):
    """docs/img/channels-sms.png: the question, the reply, the follow-up and the comment as the emulator has them."""
    post_event(desk, "4711", THEIRS)
    run_jobs()
    twilio.reply(THEIRS, OURS, "4")
    run_jobs()
    twilio.reply(THEIRS, OURS, "Quick and friendly, thanks")
    run_jobs()
    question, follow_up = twilio.messages
    thread = [
        ("business", viewer.twilio_bubble(question)),
        ("customer", twilio.inbound[0]["Body"]),
        ("business", viewer.twilio_bubble(follow_up)),
        ("customer", twilio.inbound[1]["Body"]),
    ]
    label = "RENDERING of the Messages API requests the Twilio emulator received from OpenCSAT. Not a phone's screen."
    text = viewer.screenshot(
        browser, "channels-sms.png", viewer.page("Acme (SMS)", "#5b6770", label, thread, twilio.calls[0].body)
    )
    assert question["body"] in text and "What could we improve?" in text


@pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="pg_terminate_backend is PostgreSQL's"
)
def test_the_database_dropping_us_after_twilio_took_the_sms_neither_loses_nor_repeats_it(twilio, desk, monkeypatch):
    # A failover or restart lands between the provider's 201 and our record of it: the connection the job gets
    # back from the pool is dead. The record must still be written (retried on a fresh connection), once.
    provider = configs.provider_module("twilio")
    send = provider.send

    def send_then_lose_the_database(config, outgoing):
        sent = send(config, outgoing)
        database = services().db.engine.url.database
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        return sent

    monkeypatch.setattr(provider, "send", send_then_lose_the_database)
    assert post_event(desk, "T-1", THEIRS).status_code == 202
    run_jobs()
    monkeypatch.setattr(provider, "send", send)
    [survey] = api(desk, "/api/v1/surveys?ticket_id=T-1")["surveys"]
    assert survey["status"] == "sent"
    services().clock = lambda: utcnow() + timedelta(hours=2)  # past any lease: nothing is offered again
    run_jobs()
    assert len(twilio.messages) == 1
