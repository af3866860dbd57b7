"""Write-back delivery: signed callback, backoff on 5xx, Retry-After on 429, parked on 4xx, replayable."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from plugin import signing
from plugin.models import WriteBack
from plugin.retries import backoff
from plugin.services import services
from plugin.writebacks import MAX_ATTEMPTS
from tests.conftest import PUBLIC_URL, nonce_of, outbox, rating_links
from tests.support.servers import Reply


@pytest.fixture
def rate(app, helpdesk, client):
    """Rate the survey of one ticket with a confirmed score; returns a function doing that."""

    def rate(score: int = 4, ticket_id: str = "T-1", comment: str = "") -> None:
        helpdesk.post(helpdesk.event(ticket_id=ticket_id, email=f"{ticket_id}@customer.test"))
        helpdesk.run_jobs()
        link = rating_links(outbox(app)[-1])[score - 1][len(PUBLIC_URL) :]
        nonce = nonce_of(client.get(link).get_data(as_text=True))
        client.post(link, data={"nonce": nonce, "score": score, "comment": comment})

    return rate


def _write_back() -> WriteBack:
    with services().db.session() as session:
        return session.scalar(select(WriteBack).order_by(WriteBack.id.desc()))


def _make_due() -> None:
    with services().db.session() as session:
        session.execute(update(WriteBack).values(next_attempt_at=services().clock() - timedelta(seconds=1)))


def test_callback_is_signed_with_the_accounts_secret_and_carries_the_rating(helpdesk, http_recorder, rate):
    rate(4, comment="ok")
    helpdesk.run_jobs()
    (request,) = http_recorder.requests
    assert (request.method, request.path) == ("POST", "/callback")
    signing.verify(helpdesk.secret, request.headers["X-OpenCSAT-Signature"], request.body)
    rating = json.loads(request.body)["rating"]
    assert {k: rating[k] for k in ("ticket_id", "agent_email", "scale", "score", "comment", "status")} == {
        "ticket_id": "T-1",
        "agent_email": "alex@acme.test",
        "scale": "csat5",
        "score": 4,
        "comment": "ok",
        "status": "counted",
    }
    assert (rating["agent_responses_30d"], rating["agent_csat_30d"]) == (1, 100.0)
    assert _write_back().status == "delivered"


def test_agents_rolling_csat_counts_their_last_30_days(helpdesk, http_recorder, rate):
    rate(5, "T-1")
    rate(2, "T-2")
    helpdesk.run_jobs()
    last = http_recorder.requests[-1].json()["rating"]
    assert (last["agent_responses_30d"], last["agent_csat_30d"]) == (2, 50.0)


def test_server_error_is_retried_with_backoff_then_delivered(helpdesk, http_recorder, rate):
    http_recorder.replies = [Reply(500, {"error": "boom"})]
    rate()
    helpdesk.run_jobs()
    wb = _write_back()
    assert (wb.status, wb.attempts) == ("pending", 1)
    assert "HTTP 500" in wb.last_error
    assert wb.next_attempt_at > services().clock() + timedelta(seconds=10)
    helpdesk.run_jobs()
    assert len(http_recorder.requests) == 1  # not due yet: nothing sent
    _make_due()
    helpdesk.run_jobs()
    assert _write_back().status == "delivered"
    assert len(http_recorder.requests) == 2


def test_429_waits_at_least_retry_after(helpdesk, http_recorder, rate):
    http_recorder.replies = [Reply(429, {"error": "slow down"}, {"Retry-After": "3600"})]
    rate()
    helpdesk.run_jobs()
    wb = _write_back()
    assert wb.status == "pending"
    assert wb.next_attempt_at >= services().clock() + timedelta(seconds=3590)


def test_client_error_is_parked_with_the_helpdesks_text_and_replayable(helpdesk, http_recorder, rate, runner):
    http_recorder.replies = [Reply(404, {"error": "ticket T-1 not found"})]
    rate()
    helpdesk.run_jobs()
    parked = helpdesk.api("/api/v1/write-backs?status=parked").get_json()["write_backs"]
    assert len(parked) == 1 and "HTTP 404" in parked[0]["last_error"]
    assert "ticket T-1 not found" not in parked[0]["last_error"]  # the remote body is never echoed (security.md)
    listed = runner.invoke(args=["write-backs", "list", "--account", helpdesk.account.key, "--status", "parked"])
    assert json.loads(listed.output)[0]["id"] == parked[0]["id"]

    response = helpdesk.client.post(
        f"/api/v1/write-backs/{parked[0]['id']}/replay", headers={"Authorization": f"Bearer {helpdesk.api_key}"}
    )
    assert response.status_code == 202
    helpdesk.run_jobs()
    assert _write_back().status == "delivered"
    assert len(http_recorder.requests) == 2


def test_cli_replay(helpdesk, http_recorder, rate, runner):
    http_recorder.replies = [Reply(400, {"error": "bad"})]
    rate()
    helpdesk.run_jobs()
    wb = _write_back()
    result = runner.invoke(args=["write-backs", "replay", "--account", helpdesk.account.key, str(wb.id)])
    assert result.exit_code == 0, result.output
    assert _write_back().status == "delivered"


def test_replaying_what_is_not_parked_is_404(helpdesk):
    response = helpdesk.client.post(
        "/api/v1/write-backs/999/replay", headers={"Authorization": f"Bearer {helpdesk.api_key}"}
    )
    assert response.status_code == 404


def test_parked_after_the_last_attempt(helpdesk, http_recorder, rate):
    http_recorder.replies = [Reply(503) for _ in range(MAX_ATTEMPTS)]
    rate()
    for _ in range(MAX_ATTEMPTS):
        helpdesk.run_jobs()
        _make_due()
    wb = _write_back()
    assert (wb.status, wb.attempts) == ("parked", MAX_ATTEMPTS)
    assert len(http_recorder.requests) == MAX_ATTEMPTS


def test_unreachable_helpdesk_is_retried(app, client):
    from tests.conftest import Helpdesk
    from tests.support.servers import free_port

    helpdesk = Helpdesk(app, client, f"http://127.0.0.1:{free_port()}/gone")
    helpdesk.post(helpdesk.event())
    helpdesk.run_jobs()
    link = rating_links(outbox(app)[-1])[0][len(PUBLIC_URL) :]
    client.post(link, data={"nonce": nonce_of(client.get(link).get_data(as_text=True)), "score": 1})
    helpdesk.run_jobs()
    wb = _write_back()
    assert wb.status == "pending" and "failed" in wb.last_error


def test_a_newer_version_supersedes_an_undelivered_one(helpdesk, http_recorder, rate, client, app):
    http_recorder.replies = [Reply(500)]
    rate(5)
    helpdesk.run_jobs()
    link = rating_links(outbox(app)[-1])[0][len(PUBLIC_URL) :]
    client.post(link, data={"nonce": nonce_of(client.get(link).get_data(as_text=True)), "score": 1})
    helpdesk.run_jobs()
    with services().db.session() as session:
        statuses = session.execute(select(WriteBack.version, WriteBack.status).order_by(WriteBack.id)).all()
    assert [tuple(s) for s in statuses] == [(1, "superseded"), (2, "delivered")]
    assert http_recorder.requests[-1].json()["rating"]["score"] == 1


@pytest.mark.parametrize("attempts", [1, 2, 5, 12])
def test_backoff_grows_and_has_jitter_within_bounds(attempts):
    rng = random.Random(attempts)
    delays = {backoff(attempts, rng=rng) for _ in range(20)}
    ceiling = min(timedelta(seconds=30 * 2 ** (attempts - 1)), timedelta(hours=6))
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(delays) > 1


def test_backoff_never_sooner_than_retry_after():
    assert backoff(1, retry_after=600) >= timedelta(seconds=600)


@pytest.mark.parametrize(("option", "csat"), [("true", 100.0), ("", 0.0)])
def test_a_csat10_eight_is_satisfied_in_the_agents_csat_only_when_the_account_says_so(
    helpdesk, http_recorder, rate, option, csat
):
    from plugin.models import Account

    with services().db.session() as session:
        account = session.get(Account, helpdesk.account.id)
        account.scale, account.options = "csat10", {"csat10_eight_is_satisfied": option} if option else {}
    rate(8)
    helpdesk.run_jobs()
    rating = http_recorder.requests[-1].json()["rating"]
    assert (rating["scale"], rating["score"]) == ("csat10", 8)
    assert (rating["agent_responses_30d"], rating["agent_csat_30d"]) == (1, csat)
