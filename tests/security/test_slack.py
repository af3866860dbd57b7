"""Slack alerts: hostile ticket fields cannot ping or forge links (finding 16); the URL is a secret (finding 9)."""

from __future__ import annotations

import json
import logging

import pytest

from plugin.models import Account, Alert
from plugin.services import services
from tests.conftest import PUBLIC_URL, Helpdesk, nonce_of, outbox, rating_links
from tests.support.servers import HTTPRecorder, free_port

HOSTILE_URL = "https://desk.test/t/1|x> <!channel> <https://evil.test|Reset your password"


@pytest.fixture
def slack():
    with HTTPRecorder() as recorder:
        yield recorder


def _rate_badly(app, client, slack_url: str, **event) -> Helpdesk:
    desk = Helpdesk(app, client, None, options={"alert_slack_url": slack_url})
    payload = desk.event(**event)
    assert desk.post(payload).status_code == 202
    desk.run_jobs()
    link = rating_links(outbox(app)[-1])[0][len(PUBLIC_URL) :]
    nonce = nonce_of(client.get(link).get_data(as_text=True))
    client.post(link, data={"nonce": nonce, "score": 1, "comment": "<!here> & <@U123>"})
    desk.run_jobs()
    return desk


def _control_sequences(text: str) -> list[str]:
    """Every <...> Slack would read as a mention or a link (https://api.slack.com/reference/surfaces/formatting)."""
    import re

    return re.findall(r"<[^<>]*>", text)


def test_a_hostile_ticket_url_and_id_cannot_mention_or_link(app, client, slack):
    desk = Helpdesk(app, client, None, options={"alert_slack_url": slack.url + "/services/T0/B0/x"})
    payload = desk.event(ticket_id="<!channel>")
    payload["ticket"]["url"] = HOSTILE_URL
    assert desk.post(payload).status_code == 202
    desk.run_jobs()
    link = rating_links(outbox(app)[-1])[0][len(PUBLIC_URL) :]
    nonce = nonce_of(client.get(link).get_data(as_text=True))
    client.post(link, data={"nonce": nonce, "score": 1, "comment": "<!here> & <@U123>"})
    desk.run_jobs()
    [posted] = slack.requests
    text = posted.json()["text"]
    sequences = _control_sequences(text)
    assert len(sequences) == 1, sequences  # the one ticket link we meant, nothing else
    [only] = sequences
    target, _, shown = only[1:-1].partition("|")
    assert target.startswith("https://desk.test/t/1%7Cx") and "|" not in shown and "<" not in shown
    assert "&lt;!channel&gt;" in text and "&lt;!here&gt; &amp; &lt;@U123&gt;" in text


def test_the_slack_url_is_stored_encrypted_and_never_printed(app, client, runner, slack):
    url = slack.url + "/services/T0/B0/very-secret-path"
    Helpdesk(app, client, None, options={"alert_slack_url": url})
    with services().db.session() as session:
        [account] = session.query(Account).all()
        assert "very-secret-path" not in json.dumps(account.options)
    listed = runner.invoke(args=["accounts", "list"])
    assert listed.exit_code == 0 and "very-secret-path" not in listed.output and "(set; not shown)" in listed.output


def test_a_failing_slack_url_is_not_logged(app, client, caplog):
    dead = f"http://127.0.0.1:{free_port()}/services/T0/B0/very-secret-path"
    with caplog.at_level(logging.DEBUG):
        desk = _rate_badly(app, client, dead)
    assert "very-secret-path" not in caplog.text
    with services().db.session() as session:
        errors = [a.last_error for a in session.query(Alert).filter(Alert.account_id == desk.account.id)]
    assert errors and all(e and "very-secret-path" not in e for e in errors)
