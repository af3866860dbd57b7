"""The whole loop through the outside only: CLI, HTTP on a real port, Redis + RQ worker, SMTP, callback, API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from redis import Redis
from rq import SimpleWorker

from plugin import create_app, signing
from plugin.jobs.sweep import sweep
from plugin.services import services
from tests.conftest import SECRET_KEY, nonce_of, rating_links
from tests.support.servers import free_port, serving


@pytest.fixture
def live(app_config, redis_url, smtp_server):
    """The app served on a loopback port with production parts: RQ on Redis, SMTP; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app_config.update(REDIS_URL=redis_url, SMTP_URL=smtp_server.url, PUBLIC_URL=base)
    app = create_app(app_config)
    with serving(app, port), app.app_context():
        yield base, app_config
    services_ = app.extensions["opencsat"]
    services_.db.engine.dispose()


def _cli(config: dict, *args: str) -> str:
    env = {**os.environ, **{k: str(v) for k, v in config.items() if v is not None and k.isupper()}}
    env["SECRET_KEY"] = SECRET_KEY
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "plugin", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


EVENT = {"event_id": "e1", "event": "ticket.solved", "ticket": {"id": "1"}, "requester": {"email": "a@customer.test"}}


def _create_account(config: dict, secret: str, api_url: str | None = None) -> dict:
    """A generic account made with the CLI, as an operator would: its key, webhook URL and API key."""
    callback = ["--api-url", api_url] if api_url else []
    args = ["--platform", "generic", "--name", "Acme", "--webhook-secret", secret, *callback, "--delay-minutes", "0"]
    return json.loads(_cli(config, "accounts", "create", *args))


def _post_event(account: dict, secret: str, event: dict = EVENT) -> requests.Response:
    """The helpdesk's signed webhook for `event`, over HTTP to the account's webhook URL."""
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "X-OpenCSAT-Signature": signing.sign(secret, body)}
    return requests.post(account["webhook_url"], data=body, headers=headers, timeout=10)


def _work() -> None:
    """One burst of the real RQ worker, after the sweep has offered what is due."""
    s = services()
    with s.db.session() as session:
        sweep(session, s.jobs, s.clock())
    SimpleWorker([s.jobs.queue], connection=s.jobs.redis).work(burst=True)


def test_ticket_solved_to_rating_written_back(live, smtp_server, http_recorder):
    base, config = live
    created = _create_account(config, "S3cret", http_recorder.url + "/hook")
    assert set(created) >= {"account_key", "webhook_url", "api_key"}
    assert created["webhook_url"] == f"{base}/webhooks/generic/{created['account_key']}"

    event = {
        "event_id": "evt-1",
        "event": "ticket.solved",
        "occurred_at": "2026-11-23T10:00:00Z",
        "ticket": {"id": "4711", "subject": "VPN drops", "url": "https://desk.test/4711"},
        "requester": {"email": "dana@customer.test", "name": "Dana", "locale": "en"},
        "assignee": {"id": "9", "email": "sam@acme.test", "name": "Sam"},
    }
    for attempt in range(5):  # the helpdesk retries; one email only
        answer = _post_event(created, "S3cret", event)
        assert answer.status_code == (202 if attempt == 0 else 200)
    _work()
    (mail,) = smtp_server.messages
    assert mail["To"] == "Dana <dana@customer.test>"

    link = rating_links(mail)[3]
    assert link.startswith(base + "/r/")
    page = requests.get(link, timeout=10)
    assert page.status_code == 200
    nonce = nonce_of(page.text)
    confirmed = requests.post(link, data={"nonce": nonce, "score": "4", "comment": "Thanks Sam"}, timeout=10)
    assert confirmed.status_code == 200
    _work()

    (callback,) = http_recorder.requests
    signing.verify("S3cret", callback.headers["X-OpenCSAT-Signature"], callback.body)
    assert callback.json()["rating"]["ticket_id"] == "4711"
    assert callback.json()["rating"]["agent_email"] == "sam@acme.test"

    auth = {"Authorization": f"Bearer {created['api_key']}"}
    ratings = requests.get(f"{base}/api/v1/ratings?ticket_id=4711", headers=auth, timeout=10).json()["ratings"]
    assert [(r["score"], r["comment"], r["status"]) for r in ratings] == [(4, "Thanks Sam", "counted")]
    agents = requests.get(f"{base}/api/v1/agents", headers=auth, timeout=10).json()["agents"]
    assert agents[0]["email"] == "sam@acme.test" and agents[0]["responses"] == 1


def test_flushing_redis_loses_nothing(live, smtp_server, redis_url, http_recorder):
    base, config = live
    created = _create_account(config, "S", http_recorder.url)
    assert _post_event(created, "S").status_code == 202
    Redis.from_url(redis_url).flushdb()  # the queued send_survey job is gone
    s = services()
    SimpleWorker([s.jobs.queue], connection=s.jobs.redis).work(burst=True)
    assert smtp_server.messages == []
    _work()  # the sweep re-derives it from the database
    _work()
    assert len(smtp_server.messages) == 1


def test_the_same_job_enqueued_twice_runs_once(live, smtp_server, http_recorder):
    base, config = live
    _post_event(_create_account(config, "S"), "S")
    s = services()
    for _ in range(3):
        s.jobs.enqueue("send_survey", 1)
    assert s.jobs.queue.count == 1
    SimpleWorker([s.jobs.queue], connection=s.jobs.redis).work(burst=True)
    assert len(smtp_server.messages) == 1


def test_worker_command_runs_queued_jobs(live, smtp_server):
    base, config = live
    _post_event(_create_account(config, "S"), "S")
    _cli(config, "worker", "--burst")
    assert len(smtp_server.messages) == 1
