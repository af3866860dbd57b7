"""Outbound webhooks: registered by CLI, every counted rating change POSTed signed, retried, logged."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from plugin import outbound, signing
from plugin.models import WebhookDelivery
from plugin.services import services
from tests.conftest import PUBLIC_URL, nonce_of, outbox, rating_links
from tests.support.servers import HTTPRecorder, Reply

SECRET = "whsec_test_0123456789"


@pytest.fixture
def receiver():
    recorder = HTTPRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def hooked(helpdesk, runner, receiver):
    result = runner.invoke(
        args=[
            "webhooks",
            "add",
            "--account",
            helpdesk.account.key,
            "--url",
            receiver.url + "/ratings",
            "--secret",
            SECRET,
        ]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def rate(app, helpdesk, client):
    def rate(score: int, comment: str = "", ticket_id: str = "T-1") -> str:
        if not any(ticket_id.lower() in str(m["To"]).lower() for m in outbox(app)):
            helpdesk.post(helpdesk.event(ticket_id=ticket_id, email=f"{ticket_id}@customer.test"))
            helpdesk.run_jobs()
        link = rating_links(outbox(app)[-1])[score - 1][len(PUBLIC_URL) :]
        nonce = nonce_of(client.get(link).get_data(as_text=True))
        client.post(link, data={"nonce": nonce, "score": score, "comment": comment})
        helpdesk.run_jobs()
        return link

    return rate


def _deliveries() -> list[WebhookDelivery]:
    with services().db.session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_every_rating_change_is_posted_signed(hooked, rate, receiver, helpdesk):
    rate(4)
    rate(2, comment="changed my mind")
    first, second = receiver.requests
    for request in (first, second):
        assert request.path == "/ratings"
        signing.verify(SECRET, request.headers["X-OpenCSAT-Signature"], request.body)  # raises if forged
    assert first.json()["event"] == "rating.counted" and first.headers["X-OpenCSAT-Event"] == "rating.counted"
    assert (first.json()["rating"]["score"], first.json()["rating"]["version"]) == (4, 1)
    changed = second.json()
    assert changed["event"] == "rating.changed"
    assert (changed["rating"]["score"], changed["rating"]["comment"], changed["rating"]["ticket_id"]) == (
        2,
        "changed my mind",
        "T-1",
    )
    assert changed["account_key"] == helpdesk.account.key
    assert [(d.status, d.attempts, d.last_status_code) for d in _deliveries()] == [("delivered", 1, 200)] * 2
    helpdesk.run_jobs()
    assert len(receiver.requests) == 2  # nothing sent twice


def test_a_forged_signature_does_not_verify(hooked, rate, receiver):
    rate(5)
    [request] = receiver.requests
    with pytest.raises(signing.SignatureError):
        signing.verify("not-the-secret", request.headers["X-OpenCSAT-Signature"], request.body)


def test_503_with_retry_after_is_retried_with_the_same_body(hooked, rate, receiver, helpdesk, runner):
    receiver.replies = [Reply(503, {"busy": True}, {"Retry-After": "120"})]
    rate(3)
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert delivery.next_attempt_at >= services().clock() + timedelta(seconds=119)
    with services().db.session() as session:
        session.execute(update(WebhookDelivery).values(next_attempt_at=services().clock() - timedelta(seconds=1)))
    helpdesk.run_jobs()
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["X-OpenCSAT-Delivery"] == second.headers["X-OpenCSAT-Delivery"] == str(delivery.id)
    log = json.loads(runner.invoke(args=["webhooks", "deliveries", "--account", helpdesk.account.key]).output)
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 2, 200)]


def test_410_gives_up_and_the_log_says_why(hooked, rate, receiver, helpdesk, runner):
    receiver.replies = [Reply(410, {"gone": True})]
    rate(1)
    log = json.loads(runner.invoke(args=["webhooks", "deliveries", "--account", helpdesk.account.key]).output)
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("failed", 1, 410)]
    assert "HTTP 410" in log[0]["last_error"]


def test_list_and_remove(hooked, helpdesk, runner, rate, receiver):
    listed = json.loads(runner.invoke(args=["webhooks", "list", "--account", helpdesk.account.key]).output)
    assert [(h["id"], h["active"]) for h in listed] == [(hooked["id"], True)]
    assert "secret" not in listed[0]
    assert (
        runner.invoke(args=["webhooks", "remove", "--account", helpdesk.account.key, str(hooked["id"])]).exit_code == 0
    )
    rate(5)
    assert receiver.requests == [] and _deliveries() == []


def test_bad_url_is_refused(helpdesk, runner):
    result = runner.invoke(args=["webhooks", "add", "--account", helpdesk.account.key, "--url", "ftp://x"])
    assert result.exit_code != 0 and "https://" in result.output


def test_retry_after_reads_seconds_and_dates():
    assert outbound.retry_after_seconds("30") == 30.0
    assert outbound.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert outbound.retry_after_seconds("soon") is None


@pytest.mark.parametrize(("option", "satisfied"), [("true", True), ("", False)])
def test_a_csat10_eight_is_satisfied_only_when_the_account_says_so(hooked, rate, receiver, helpdesk, option, satisfied):
    from plugin.models import Account

    with services().db.session() as session:
        account = session.get(Account, helpdesk.account.id)
        account.scale, account.options = "csat10", {"csat10_eight_is_satisfied": option} if option else {}
    rate(8)
    [request] = receiver.requests
    rating = request.json()["rating"]
    assert (rating["scale"], rating["score"], rating["max_score"]) == ("csat10", 8, 10)
    assert rating["satisfied"] is satisfied
