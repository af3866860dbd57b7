"""The survey email over real SMTP: multipart, headers, links; failures retried or failed, never sent twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from plugin.db import utcnow
from plugin.jobs import tasks
from plugin.models import Survey
from plugin.services import services
from tests.conftest import rating_links


@pytest.fixture
def app_config(app_config, smtp_server):
    app_config["SMTP_URL"] = smtp_server.url
    return app_config


def _survey() -> Survey:
    with services().db.session() as session:
        return session.scalar(select(Survey))


def test_survey_email_is_multipart_with_the_right_headers(helpdesk, smtp_server):
    helpdesk.post(helpdesk.event(ticket_id="T-1"))
    helpdesk.run_jobs()
    (message,) = smtp_server.messages
    assert message["To"] == "Casey Customer <casey@customer.test>"
    assert message["From"].startswith("Acme Support <")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"].startswith("<http://opencsat.test/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == _survey().message_id
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",)).get_content()
    text_links = rating_links(message)
    assert len(text_links) == 5
    for link in text_links:
        assert f'href="{link}"' in html
    assert 'style="' in html  # CSS inlined for mail clients; only @media rules (dark mode) stay in a <style> tag
    assert all(
        block.strip().startswith("@media") for block in html.split("<style>")[1].split("</style>")[0].split("}\n")
    )


def test_header_injection_in_names_and_subjects_is_neutralised(helpdesk, smtp_server):
    event = helpdesk.event(ticket_id="T-2")
    event["requester"]["name"] = "Eve\r\nBcc: victim@evil.test"
    event["ticket"]["subject"] = "Hi\nBcc: victim@evil.test"
    helpdesk.post(event)
    helpdesk.run_jobs()
    (message,) = smtp_server.messages
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "\n" not in message["To"]


def test_non_ascii_names_are_encoded(helpdesk, smtp_server):
    event = helpdesk.event(ticket_id="T-3")
    event["requester"]["name"] = "Zoë Ελένη 王"
    event["ticket"]["subject"] = "Drucker kaputt – ñ"
    helpdesk.post(event)
    helpdesk.run_jobs()
    (message,) = smtp_server.messages
    assert str(message["To"]) == "Zoë Ελένη 王 <casey@customer.test>"
    assert "Drucker kaputt – ñ" in str(message["Subject"])


def test_sending_twice_sends_once(helpdesk, smtp_server):
    helpdesk.post(helpdesk.event())
    survey_id = _survey().id
    assert tasks.send_survey(survey_id) == "sent"
    assert tasks.send_survey(survey_id) == "not due"
    helpdesk.run_jobs()
    assert len(smtp_server.messages) == 1


def test_temporary_smtp_failure_is_retried(helpdesk, smtp_server):
    smtp_server.inbox.refuse = (451, "4.3.0 try again later")
    helpdesk.post(helpdesk.event())
    helpdesk.run_jobs()
    survey = _survey()
    assert (survey.status, survey.attempts) == ("scheduled", 1)
    assert "451" in survey.reason and survey.scheduled_at > services().clock()
    smtp_server.inbox.refuse = None
    with services().db.session() as session:
        session.execute(update(Survey).values(scheduled_at=services().clock()))
    helpdesk.run_jobs()
    assert _survey().status == "sent"
    assert len(smtp_server.messages) == 1


def test_permanent_smtp_failure_fails_the_survey_with_the_servers_text(helpdesk, smtp_server):
    smtp_server.inbox.refuse = (550, "5.1.1 mailbox unavailable")
    helpdesk.post(helpdesk.event())
    helpdesk.run_jobs()
    survey = _survey()
    assert survey.status == "failed"
    assert "550" in survey.reason and "mailbox unavailable" in survey.reason
    body = helpdesk.api("/api/v1/surveys").get_json()["surveys"][0]
    assert body["status"] == "failed" and "550" in body["reason"]


def test_unreachable_smtp_server_is_retried(app_config, client, http_recorder):
    from plugin import create_app
    from tests.conftest import Helpdesk
    from tests.support.servers import free_port

    app_config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    app = create_app(app_config)
    with app.app_context():
        helpdesk = Helpdesk(app, app.test_client(), http_recorder.url)
        helpdesk.post(helpdesk.event())
        helpdesk.run_jobs()
        survey = _survey()
        assert survey.status == "scheduled" and survey.attempts == 1


def test_unsubscribe_stops_every_later_survey(helpdesk, smtp_server, client):
    helpdesk.post(helpdesk.event(ticket_id="T-1"))
    helpdesk.run_jobs()
    (message,) = smtp_server.messages
    url = message["List-Unsubscribe"].strip("<>").removeprefix("http://opencsat.test")
    assert "Unsubscribe" in client.get(url).get_data(as_text=True)  # GET only asks
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # RFC 8058
    with services().db.session() as session:
        session.execute(update(Survey).values(created_at=utcnow().replace(year=2020)))  # outside the throttle
    helpdesk.post(helpdesk.event(ticket_id="T-2"))
    helpdesk.run_jobs()
    assert len(smtp_server.messages) == 1
    surveys = helpdesk.api("/api/v1/surveys?ticket_id=T-2").get_json()["surveys"]
    assert (surveys[0]["status"], surveys[0]["reason"]) == ("skipped", "unsubscribed")


def test_tampered_unsubscribe_link_is_404(client):
    assert client.post("/unsubscribe/WzEsImFAYi5jIl0.forged").status_code == 404


def test_branded_sender_reply_to_and_greek_subject_arrive_encoded(app, client, http_recorder, smtp_server):
    from tests.conftest import Helpdesk

    options = {
        "sender_name": "Acme Care\r\nBcc: victim@evil.test",
        "sender_address": "care@acme.test",
        "reply_to": "help@acme.test",
    }
    helpdesk = Helpdesk(app, client, http_recorder.url, options=options)
    event = helpdesk.event(ticket_id="T-9")
    event["requester"]["locale"] = "el-GR"
    event["ticket"]["subject"] = "Εκτυπωτής\r\nX-Injected: yes"
    helpdesk.post(event)
    helpdesk.run_jobs()
    (message,) = smtp_server.messages
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["From"] == '"Acme Care Bcc victim evil.test" <care@acme.test>'  # one header, one address
    assert message["Reply-To"] == "help@acme.test"
    assert str(message["Subject"]) == "Αξιολογήστε την εξυπηρέτησή μας: Εκτυπωτής X-Injected: yes"
    raw = dict(message.raw_items())  # the headers as they crossed the wire
    assert raw["Subject"].lstrip().lower().startswith("=?utf-8?") and "\n " not in raw["Subject"].replace("\r\n ", "")
    text = message.get_body(("plain",)).get_content()
    assert "Πώς θα αξιολογούσατε την υποστήριξη που λάβατε;" in text
    assert message.get_body(("html",)).get_content().count("/r/") == 5
