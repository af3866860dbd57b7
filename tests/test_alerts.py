"""Alerts: a low rating (or a comment, if chosen) reaches a loopback Slack and a real SMTP server, retried, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from plugin import alerts, followups
from plugin.jobs import tasks
from plugin.models import Account, Alert, Rating
from plugin.services import services
from tests.conftest import PUBLIC_URL, Helpdesk, nonce_of, rating_links
from tests.support.servers import HTTPRecorder, Reply

LEAD = "lead@acme.test"


@pytest.fixture
def slack():
    recorder = HTTPRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def app_config(app_config, smtp_server):
    app_config["SMTP_URL"] = smtp_server.url
    return app_config


@pytest.fixture
def desk_locale():
    """The account's --locale; a test parametrizes it to see alerts in another language."""
    return "en"


@pytest.fixture
def desk(app, client, http_recorder, slack, desk_locale):
    options = {
        "alert_slack_url": slack.url + "/services/T0/B0/x",
        "alert_emails": f"{LEAD}, boss@acme.test",
        "alert_threshold": "2",
    }
    return Helpdesk(app, client, http_recorder.url + "/callback", options=options, locale=desk_locale)


@pytest.fixture
def rate(desk, client, smtp_server):
    def rate(score: int, ticket_id: str = "T-1", comment: str = "") -> None:
        desk.post(desk.event(ticket_id=ticket_id, email=f"{ticket_id}@customer.test"))
        desk.run_jobs()
        survey = [m for m in smtp_server.messages if f"{ticket_id}@customer.test".lower() in str(m["To"]).lower()][-1]
        link = rating_links(survey)[score - 1][len(PUBLIC_URL) :]
        nonce = nonce_of(client.get(link).get_data(as_text=True))
        client.post(link, data={"nonce": nonce, "score": score, "comment": comment})
        desk.run_jobs()

    return rate


def _alerts() -> list[Alert]:
    with services().db.session() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def _alert_mails(smtp_server):
    return [m for m in smtp_server.messages if LEAD in str(m["To"])]


def test_low_rating_alerts_slack_and_email_once(rate, desk, slack, smtp_server):
    rate(1, comment="Nobody <!channel> answered & I waited")
    [posted] = slack.requests
    assert posted.path == "/services/T0/B0/x"
    text = posted.json()["text"]
    assert "*1/5* (Very dissatisfied) from Casey Customer on ticket <https://desk.test/t/T-1|T-1>" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text  # a comment cannot ping the channel
    [mail] = _alert_mails(smtp_server)
    assert mail["Subject"] == "Low rating 1/5 on ticket T-1"
    assert "boss@acme.test" in mail["To"]
    body = mail.get_content()
    assert "https://desk.test/t/T-1" in body and "Nobody <!channel> answered" in body
    assert "Casey Customer rated ticket T-1 1/5 (Very dissatisfied)." in body and "Comment:" in body
    assert [(a.channel, a.reason, a.status) for a in _alerts()] == [
        ("slack", "low_score", "sent"),
        ("email", "low_score", "sent"),
    ]

    desk.run_jobs()  # the sweep finds nothing more to send
    for alert in _alerts():
        assert tasks.send_alert(alert.id) == "not due"  # a job that runs again sends nothing
    assert len(slack.requests) == 1 and len(_alert_mails(smtp_server)) == 1


@pytest.mark.parametrize(
    ("desk_locale", "slack_line", "subject", "body_lines"),
    [
        (
            "de",
            "*1/5* (Sehr unzufrieden) von Casey Customer zu Ticket <https://desk.test/t/T-1|T-1>",
            "Schlechte Bewertung 1/5 zu Ticket T-1",
            [
                "Casey Customer hat Ticket T-1 mit 1/5 (Sehr unzufrieden) bewertet.",
                "Bearbeiter: Alex Agent",
                "Kommentar:",
                "Ticket öffnen: https://desk.test/t/T-1",
            ],
        ),
        (
            "zh-TW",  # any tag the account was created with maps to its catalogue
            "*1/5* (非常不滿意)，來自 Casey Customer，工單 <https://desk.test/t/T-1|T-1>",
            "工單 T-1 收到低分 1/5",
            [
                "Casey Customer 給工單 T-1 評了 1/5（非常不滿意）。",
                "客服人員: Alex Agent",
                "開啟工單: https://desk.test/t/T-1",
            ],
        ),
        (
            "el",
            "*1/5* (Πολύ κακή) από Casey Customer για το αίτημα <https://desk.test/t/T-1|T-1>",
            "Χαμηλή αξιολόγηση 1/5 για το αίτημα T-1",
            ["Casey Customer αξιολόγησε το αίτημα T-1 με 1/5 (Πολύ κακή).", "Σχόλιο:"],
        ),
    ],
)
def test_alerts_speak_the_accounts_language_not_the_customers(
    rate, slack, smtp_server, slack_line, subject, body_lines
):
    rate(1, comment="Nobody answered")  # the customer's event says locale "en": the alert goes to the account's team
    text = slack.requests[0].json()["text"]
    assert slack_line in text and "Nobody answered" in text
    assert "from Casey" not in text and "Agent:" not in text
    [mail] = _alert_mails(smtp_server)
    assert mail["Subject"] == subject
    body = mail.get_content()
    for line in body_lines:
        assert line in body
    assert "Nobody answered" in body and "rated ticket" not in body and "Open the ticket" not in body


def test_good_rating_does_not_alert_unless_comments_are_wanted(rate, desk, slack, smtp_server):
    rate(5, ticket_id="G-1", comment="lovely")
    assert slack.requests == [] and _alert_mails(smtp_server) == [] and _alerts() == []
    with services().db.session() as session:
        account = session.get(Account, desk.account.id)
        account.options = {**account.options, "alert_on_comment": "true"}
    rate(5, ticket_id="G-2", comment="lovely")
    assert [a.reason for a in _alerts()] == ["comment", "comment"]
    assert "lovely" in slack.requests[0].json()["text"]


def test_slack_500_is_retried_with_backoff_then_sent(rate, desk, slack):
    slack.replies = [Reply(500, {"error": "boom"})]
    rate(2)
    slack_alert = next(a for a in _alerts() if a.channel == "slack")
    assert (slack_alert.status, slack_alert.attempts) == ("pending", 1)
    assert "HTTP 500" in slack_alert.last_error
    assert slack_alert.next_attempt_at > services().clock() + timedelta(seconds=10)
    desk.run_jobs()
    assert len(slack.requests) == 1  # not due yet
    with services().db.session() as session:
        session.execute(update(Alert).values(next_attempt_at=services().clock() - timedelta(seconds=1)))
    desk.run_jobs()
    slack_alert = next(a for a in _alerts() if a.channel == "slack")
    assert (slack_alert.status, slack_alert.attempts, len(slack.requests)) == ("sent", 2, 2)
    assert slack.requests[0].body == slack.requests[1].body


def test_slack_404_gives_up_at_once(rate, slack):
    slack.replies = [Reply(404, {"error": "no_service"})]
    rate(1)
    slack_alert = next(a for a in _alerts() if a.channel == "slack")
    assert (slack_alert.status, slack_alert.attempts) == ("failed", 1)


def test_smtp_refusal_is_retried_then_sent(rate, desk, smtp_server):
    rate(1, ticket_id="M-1")
    assert len(_alert_mails(smtp_server)) == 1
    smtp_server.inbox.refuse = (451, "try later")
    with services().db.session() as session:
        rating = session.scalar(select(Rating))
        rating.version += 1
        followups.rating_counted(session, rating, services().clock())  # a changed rating: a new version alerts
    desk.run_jobs()
    email = [a for a in _alerts() if a.channel == "email"][-1]
    assert (email.status, email.attempts) == ("pending", 1) and "451" in email.last_error
    smtp_server.inbox.refuse = None
    with services().db.session() as session:
        session.execute(update(Alert).values(next_attempt_at=services().clock() - timedelta(seconds=1)))
    desk.run_jobs()
    assert len(_alert_mails(smtp_server)) == 2


def test_one_row_per_rating_version_and_channel(rate):
    rate(1)
    with services().db.session() as session:
        rating = session.scalar(select(Rating))
        followups.rating_counted(session, rating, services().clock())  # the same version again: nothing new
    assert len(_alerts()) == 2
    with pytest.raises(IntegrityError), services().db.session() as session:
        first = _alerts()[0]
        session.add(
            Alert(
                rating_id=first.rating_id,
                account_id=first.account_id,
                version=first.version,
                channel=first.channel,
                reason="low_score",
                status="pending",
            )
        )


def test_settings_parse_strictly_and_bad_ones_never_block_a_rating(app, rate, desk, slack):
    with pytest.raises(ValueError, match="alert_threshold"):
        alerts.settings_of(Account(options={"alert_threshold": "low"}), "csat5")
    with pytest.raises(ValueError, match="https://"):
        alerts.settings_of(Account(options={"alert_slack_url": "ftp://x"}), "csat5")
    assert alerts.settings_of(Account(options={}), "nps").threshold == 6
    with services().db.session() as session:
        account = session.get(Account, desk.account.id)
        account.options = {**account.options, "alert_threshold": "low"}
    rate(1, ticket_id="B-1")
    with services().db.session() as session:
        assert session.scalar(select(Rating)).status == "counted"
    assert _alerts() == [] and slack.requests == []
