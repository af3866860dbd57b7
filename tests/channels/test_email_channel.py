"""Email as one channel among the others: the send path's fallbacks and its SMTP connection, over real parts
(the app over HTTP, Twilio's emulator, aiosmtpd on loopback)."""

from __future__ import annotations

import json
import re

import pytest
from aiosmtpd.controller import Controller

from plugin.models import ChannelMessage, Survey, Unsubscribe
from tests.channels.conftest import api, post_event, stored
from tests.channels.test_twilio import OURS, THEIRS, twilio  # noqa: F401 (the fixture)
from tests.conftest import run_jobs
from tests.support.servers import _Inbox, free_port


class _Peers(_Inbox):
    """The loopback SMTP server's inbox, also noting which client connection (its peer port) carried each message."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[tuple[str, int]] = []
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.peers.append(session.peer)
        self.raw.append(envelope.original_content or envelope.content)
        return await super().handle_DATA(server, session, envelope)


class CountingSMTP:
    """aiosmtpd on loopback that can be restarted on the same port (a server that went away and came back)."""

    def __init__(self) -> None:
        self.inbox, self.port = _Peers(), free_port()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> CountingSMTP:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp(app_config):
    server = CountingSMTP().start()
    app_config["SMTP_URL"] = server.url
    yield server
    server.stop()


def test_stop_between_scheduling_and_sending_falls_back_to_email(smtp, twilio, desk):  # noqa: F811
    assert post_event(desk, "T-1", THEIRS).status_code == 202
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("sms", "scheduled")  # chosen at scheduling: SMS reaches them
    assert twilio.reply(THEIRS, OURS, "STOP").status_code == 200  # before the job runs
    run_jobs()
    assert twilio.messages == []  # nothing by SMS after STOP
    [survey] = stored(Survey)
    assert (survey.channel, survey.status) == ("email", "sent")
    assert "unsubscribed" in survey.reason and "sms" in survey.reason  # why it did not go by SMS stays visible
    assert [m["To"] for m in smtp.inbox.messages] == ["Casey Customer <casey@customer.test>"]
    assert [u.email for u in stored(Unsubscribe)] == [THEIRS]


def test_stop_without_an_email_address_skips_as_unsubscribed(smtp, twilio, desk):  # noqa: F811
    post_event(desk, "T-1", THEIRS, email="")
    twilio.reply(THEIRS, OURS, "STOP")
    run_jobs()
    [survey] = stored(Survey)
    assert (survey.status, survey.reason) == ("skipped", "unsubscribed")
    assert twilio.messages == [] and smtp.inbox.messages == []


def test_after_a_fallback_to_email_the_providers_reason_stays_visible(smtp, twilio, desk):  # noqa: F811
    twilio.blocked.add(THEIRS)  # Twilio answers 21610: they opted out with Twilio before we knew
    post_event(desk, "T-1", THEIRS)
    run_jobs()
    [survey] = api(desk, "/api/v1/surveys?ticket_id=T-1")["surveys"]
    assert (survey["channel"], survey["status"]) == ("email", "sent")
    assert "21610" in survey["reason"] and "twilio" in survey["reason"]
    assert "fell back to email" in survey["reason"]
    [question] = [m for m in stored(ChannelMessage) if m.kind == "question"]
    assert question.error_code == "21610"
    assert len(smtp.inbox.messages) == 1


def test_an_email_survey_sent_at_first_try_has_no_reason(smtp, desk):
    post_event(desk, "T-1", None)
    run_jobs()
    [survey] = api(desk, "/api/v1/surveys?ticket_id=T-1")["surveys"]
    assert (survey["channel"], survey["status"], survey["reason"]) == ("email", "sent", None)


def test_surveys_share_one_smtp_connection_and_survive_the_server_going_away(smtp, desk):
    for n in range(5):
        post_event(desk, f"T-{n}", None, email=f"casey{n}@customer.test")
    run_jobs()
    assert len(smtp.inbox.messages) == 5
    assert len(set(smtp.inbox.peers)) == 1  # one connection for all five

    smtp.stop()  # the server restarts: the kept connection is dead
    smtp.start()
    for n in range(5, 8):
        post_event(desk, f"T-{n}", None, email=f"casey{n}@customer.test")
    run_jobs()
    surveys = stored(Survey)
    assert [s.status for s in surveys] == ["sent"] * 8
    assert [s.attempts for s in surveys] == [1] * 8  # reconnected before sending: no attempt was lost
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.inbox.messages) == sorted(
        f"casey{n}@customer.test" for n in range(8)
    )  # each exactly once
    assert len(set(smtp.inbox.peers[5:])) == 1


def test_a_refused_recipient_does_not_spoil_the_connection_for_the_next(smtp, desk):
    post_event(desk, "T-1", None, email="first@customer.test")
    run_jobs()
    smtp.inbox.refuse = (550, "5.1.1 no such user")
    post_event(desk, "T-2", None, email="gone@customer.test")
    run_jobs()
    smtp.inbox.refuse = None
    post_event(desk, "T-3", None, email="third@customer.test")
    run_jobs()
    by_ticket = {s.ticket_id: s for s in stored(Survey)}
    assert by_ticket["T-2"].status == "failed" and "550" in by_ticket["T-2"].reason
    assert by_ticket["T-3"].status == "sent"
    assert [m["To"].addresses[0].addr_spec for m in smtp.inbox.messages] == [
        "first@customer.test",
        "third@customer.test",
    ]
    assert json.dumps(by_ticket["T-3"].reason) == "null"


def test_list_unsubscribe_arrives_as_a_url_in_angle_brackets_not_an_encoded_word(smtp, desk):
    """RFC 2369 section 2: the header's content is <URL>; mail clients offering one-click unsubscribe (RFC 8058)
    read it as such and do not decode RFC 2047 encoded words in it. The signed URL is longer than 78 characters."""
    post_event(desk, "T-1", None)
    run_jobs()
    [raw] = smtp.inbox.raw
    [line] = [
        h
        for h in raw.split(b"\r\n\r\n")[0].replace(b"\r\n ", b" ").split(b"\r\n")
        if h.lower().startswith(b"list-unsubscribe:")
    ]
    value = line.split(b":", 1)[1].strip()
    assert b"=?" not in value
    assert re.fullmatch(rb"<https?://\S+/unsubscribe/\S+>", value), value
