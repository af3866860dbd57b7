"""Outbound webhooks: registered by CLI or JSON API, every counted rating change POSTed signed, retried, logged."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import select, update

from plugin import outbound, signing
from plugin.db import utcnow
from plugin.models import WebhookDelivery
from plugin.services import services
from tests.conftest import POSTGRES, PUBLIC_URL, nonce_of, outbox, rating_links
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


def test_cli_replays_a_failed_delivery_with_the_same_body(hooked, rate, receiver, helpdesk, runner):
    receiver.replies = [Reply(410, {"gone": True})]
    rate(1)
    [delivery] = _deliveries()
    args = ["webhooks", "replay", "--account", helpdesk.account.key, str(delivery.id)]
    assert runner.invoke(args=args).exit_code == 0
    helpdesk.run_jobs()
    first, second = receiver.requests
    assert first.body == second.body
    assert second.headers["X-OpenCSAT-Delivery"] == str(delivery.id)
    assert [d.status for d in _deliveries()] == ["delivered"]
    assert runner.invoke(args=args).exit_code == 2  # delivered: nothing left to replay


def test_list_and_remove(hooked, helpdesk, runner, rate, receiver):
    listed = json.loads(runner.invoke(args=["webhooks", "list", "--account", helpdesk.account.key]).output)
    assert [(h["id"], h["active"]) for h in listed] == [(hooked["id"], True)]
    assert "secret" not in listed[0]
    assert (
        runner.invoke(args=["webhooks", "remove", "--account", helpdesk.account.key, str(hooked["id"])]).exit_code == 0
    )
    rate(5)
    assert receiver.requests == [] and _deliveries() == []


def test_a_delivery_waiting_when_its_webhook_is_removed_is_not_sent(hooked, rate, receiver, helpdesk, runner):
    receiver.replies = [Reply(503, {"busy": True})]
    rate(3)
    runner.invoke(args=["webhooks", "remove", "--account", helpdesk.account.key, str(hooked["id"])])
    with services().db.session() as session:
        session.execute(update(WebhookDelivery).values(next_attempt_at=services().clock() - timedelta(seconds=1)))
    helpdesk.run_jobs()
    assert len(receiver.requests) == 1  # only the attempt before the removal
    [delivery] = _deliveries()
    assert (delivery.status, delivery.last_error) == ("failed", "the webhook was removed")


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


# The JSON API: /api/v1/webhooks and /api/v1/webhook-deliveries, on the same domain functions as the CLI.


def call(helpdesk, method: str, path: str, headers: dict | None = None, **kwargs):
    """An /api/v1 request with the account's API key."""
    headers = {"Authorization": f"Bearer {helpdesk.api_key}", **(headers or {})}
    return helpdesk.client.open(path, method=method, headers=headers, **kwargs)


def api_deliveries(helpdesk, webhook_id: int) -> list[dict]:
    response = call(helpdesk, "GET", f"/api/v1/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deliveries"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/webhooks"),
        ("POST", "/api/v1/webhooks"),
        ("DELETE", "/api/v1/webhooks/1"),
        ("GET", "/api/v1/webhooks/1/deliveries"),
        ("POST", "/api/v1/webhook-deliveries/1/replay"),
    ],
)
def test_api_needs_the_api_key(helpdesk, client, method, path):
    assert client.open(path, method=method, json={"url": "https://example.com/"}).status_code == 401
    wrong = client.open(path, method=method, headers={"Authorization": "Bearer nope"}, json={"url": "https://x.test"})
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "unknown API key"


def test_api_registers_delivers_lists_and_removes(helpdesk, rate, receiver, runner):
    created = call(helpdesk, "POST", "/api/v1/webhooks", json={"url": f" {receiver.url}/from-api "})
    assert created.status_code == 201
    hook = created.get_json()
    assert (hook["url"], hook["active"], hook["signature_header"]) == (f"{receiver.url}/from-api", True, signing.HEADER)
    assert hook["secret"].startswith("whsec_")  # generated, and shown this once
    listed = call(helpdesk, "GET", "/api/v1/webhooks").get_json()["webhooks"]
    assert [(h["id"], h["url"], h["active"]) for h in listed] == [(hook["id"], hook["url"], True)]
    assert "secret" not in listed[0] and hook["secret"] not in call(helpdesk, "GET", "/api/v1/webhooks").text
    cli_listed = json.loads(runner.invoke(args=["webhooks", "list", "--account", helpdesk.account.key]).output)
    assert cli_listed == listed

    rate(4)
    [request] = receiver.requests
    assert request.path == "/from-api"
    signing.verify(hook["secret"], request.headers["X-OpenCSAT-Signature"], request.body)  # the generated secret signs
    [delivery] = api_deliveries(helpdesk, hook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"], delivery["last_error"]) == (
        "delivered",
        1,
        200,
        None,
    )
    assert delivery["webhook_id"] == hook["id"] and delivery["version"] == 1
    assert delivery["created_at"] and delivery["delivered_at"] and delivery["next_attempt_at"]
    assert request.headers["X-OpenCSAT-Delivery"] == str(delivery["id"])

    removed = call(helpdesk, "DELETE", f"/api/v1/webhooks/{hook['id']}")
    assert removed.status_code == 204 and removed.data == b""
    assert [h["active"] for h in call(helpdesk, "GET", "/api/v1/webhooks").get_json()["webhooks"]] == [False]
    rate(2, comment="changed my mind")
    assert len(receiver.requests) == 1  # removed: nothing more is sent
    assert len(api_deliveries(helpdesk, hook["id"])) == 1  # ...and its log stays readable


def test_api_does_not_echo_a_secret_the_caller_chose(helpdesk, rate, receiver):
    created = call(helpdesk, "POST", "/api/v1/webhooks", json={"url": receiver.url, "secret": SECRET})
    assert created.status_code == 201 and "secret" not in created.get_json()
    rate(5)
    [request] = receiver.requests
    signing.verify(SECRET, request.headers["X-OpenCSAT-Signature"], request.body)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"url": "ftp://example.com/csat"}, "https://"),
        ({"url": "example.com/csat"}, "https://"),
        ({"url": "https://example.com/" + "x" * 1000}, "1000 characters"),
        ({}, "url is required"),
        ({"url": 42}, "url is required"),
        ({"url": "https://example.com/", "secret": ""}, "secret"),
        ({"url": "https://example.com/", "secret": ["x"]}, "secret"),
        (["https://example.com/"], "JSON object"),
    ],
)
def test_api_refuses_a_bad_webhook_with_400_naming_the_problem(helpdesk, body, named):
    response = call(helpdesk, "POST", "/api/v1/webhooks", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad request" and named in response.get_json()["message"]
    assert call(helpdesk, "GET", "/api/v1/webhooks").get_json()["webhooks"] == []


def test_api_wants_json(helpdesk):
    form = call(helpdesk, "POST", "/api/v1/webhooks", data={"url": "https://example.com/"})
    assert form.status_code == 415 and "application/json" in form.get_json()["message"]
    headers = {"Content-Type": "application/json"}
    broken = call(helpdesk, "POST", "/api/v1/webhooks", data='{"url": "https://exa', headers=headers)
    assert broken.status_code == 400 and "JSON object" in broken.get_json()["message"]
    assert call(helpdesk, "GET", "/api/v1/webhooks").get_json()["webhooks"] == []


def test_another_accounts_webhooks_are_404(app, client, helpdesk, http_recorder, receiver, rate):
    from tests.conftest import Helpdesk

    other = Helpdesk(app, client, http_recorder.url)
    theirs = call(other, "POST", "/api/v1/webhooks", json={"url": receiver.url + "/theirs"}).get_json()
    mine = call(helpdesk, "POST", "/api/v1/webhooks", json={"url": receiver.url + "/mine"}).get_json()
    assert [h["id"] for h in call(helpdesk, "GET", "/api/v1/webhooks").get_json()["webhooks"]] == [mine["id"]]
    for method, path in [
        ("DELETE", f"/api/v1/webhooks/{theirs['id']}"),
        ("GET", f"/api/v1/webhooks/{theirs['id']}/deliveries"),
        ("DELETE", "/api/v1/webhooks/999999"),
        ("GET", "/api/v1/webhooks/999999/deliveries"),
    ]:
        response = call(helpdesk, method, path)
        assert response.status_code == 404 and response.get_json()["message"] == "no webhook with this id"
    assert [h["active"] for h in call(other, "GET", "/api/v1/webhooks").get_json()["webhooks"]] == [True]
    rate(3)  # a rating of this account goes to this account's URL only
    assert [r.path for r in receiver.requests] == ["/mine"]
    assert api_deliveries(other, theirs["id"]) == []


def test_a_failed_delivery_is_replayed_with_the_same_body(helpdesk, rate, receiver, app, client, http_recorder):
    hook = call(helpdesk, "POST", "/api/v1/webhooks", json={"url": receiver.url}).get_json()
    receiver.replies = [Reply(410, {"gone": "for now"})]
    rate(1)
    [failed] = api_deliveries(helpdesk, hook["id"])
    assert (failed["status"], failed["attempts"], failed["last_status_code"]) == ("failed", 1, 410)
    assert "HTTP 410" in failed["last_error"]

    from tests.conftest import Helpdesk

    other = Helpdesk(app, client, http_recorder.url)
    assert call(other, "POST", f"/api/v1/webhook-deliveries/{failed['id']}/replay").status_code == 404

    replayed = call(helpdesk, "POST", f"/api/v1/webhook-deliveries/{failed['id']}/replay")
    assert replayed.status_code == 202 and replayed.get_json() == {"id": failed["id"], "status": "pending"}
    helpdesk.run_jobs()
    first, second = receiver.requests
    assert first.body == second.body
    assert second.headers["X-OpenCSAT-Delivery"] == str(failed["id"])
    signing.verify(hook["secret"], second.headers["X-OpenCSAT-Signature"], second.body)
    [delivered] = api_deliveries(helpdesk, hook["id"])
    assert (delivered["id"], delivered["status"], delivered["attempts"], delivered["last_status_code"]) == (
        failed["id"],
        "delivered",
        1,
        200,
    )
    assert delivered["last_error"] is None
    again = call(helpdesk, "POST", f"/api/v1/webhook-deliveries/{failed['id']}/replay")
    assert again.status_code == 404  # only a failed delivery can be replayed
    assert len(receiver.requests) == 2


def test_a_removed_webhooks_failed_delivery_is_not_replayed(helpdesk, rate, receiver):
    hook = call(helpdesk, "POST", "/api/v1/webhooks", json={"url": receiver.url}).get_json()
    receiver.replies = [Reply(400, {"bad": True})]
    rate(2)
    [failed] = api_deliveries(helpdesk, hook["id"])
    assert failed["status"] == "failed"
    assert call(helpdesk, "DELETE", f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert call(helpdesk, "POST", f"/api/v1/webhook-deliveries/{failed['id']}/replay").status_code == 404
    helpdesk.run_jobs()
    assert len(receiver.requests) == 1


@pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="pg_terminate_backend is PostgreSQL's"
)
def test_the_database_dropping_us_after_the_receiver_took_the_post_neither_loses_nor_repeats_it(
    hooked, rate, receiver, helpdesk, monkeypatch
):
    # A restart between the receiver's 200 and our record of it: the pooled connection the job takes back is dead.
    send = outbound.send

    def send_then_lose_the_database(*args, **kwargs):
        code = send(*args, **kwargs)
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (services().db.engine.url.database,),
            )
        return code

    monkeypatch.setattr(outbound, "send", send_then_lose_the_database)
    rate(4)
    monkeypatch.setattr(outbound, "send", send)
    assert [(d.status, d.attempts) for d in _deliveries()] == [("delivered", 1)]
    services().clock = lambda: utcnow() + timedelta(hours=2)  # past any lease: nothing is offered again
    helpdesk.run_jobs()
    assert len(receiver.requests) == 1
