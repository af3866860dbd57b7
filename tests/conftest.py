"""Fixtures: the app on SQLite or PostgreSQL (OPENCSAT_TEST_DATABASE), real Redis, real SMTP, loopback HTTP."""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import timedelta

import psycopg
import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from plugin import create_app, signing
from plugin.accounts import create_account
from plugin.cli import upgrade_database
from plugin.db import Base, utcnow
from plugin.services import services
from tests.support.browser import CHROMIUM, LAUNCH_ARGS
from tests.support.servers import HTTPRecorder, SMTPServer

SECRET_KEY = "test-secret-key-0123456789abcdef"
PUBLIC_URL = "http://opencsat.test"
POSTGRES = os.environ.get("OPENCSAT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('OPENCSAT_TEST_REDIS_DB', '15')}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A migrated, empty database for this test run: a SQLite file, or a PostgreSQL database of its own."""
    if os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") == "postgresql":
        name = f"opencsat_test_{os.getpid()}"
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{POSTGRES}/{name}"
        upgrade_database(url.replace("postgresql://", "postgresql+psycopg://"))
        yield url
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        upgrade_database(url)
        yield url


def _empty_tables(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def app_config(database_url, tmp_path):
    """Settings overrides for one test; tests may change them before asking for `app`."""
    _empty_tables(database_url)
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": None,
        "SMTP_URL": None,
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_URL": PUBLIC_URL,
        "INSTANCE_PATH": tmp_path / "instance",
        "START_JOBS_THREAD": False,
        # The helpdesk, Slack and webhook emulators listen on loopback, which the outbound policy refuses by default.
        "OUTBOUND_ALLOWED_NETWORKS": LOOPBACK_NETWORKS,
    }


class FakeClock:
    """The app's clock in tests: still unless told to move."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def app(app_config, clock):
    app = create_app(app_config)
    with app.app_context():
        services().clock = clock
        yield app
        services().db.dispose()


BROWSER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-GB,en;q=0.9",
}


def person_opens(client, clock, path: str, *, after_minutes: float = 5, beacon: str | None = "visible"):
    """A person clicks a rating link some minutes after delivery in a real browser, whose page sends its beacon."""
    clock.advance(minutes=after_minutes)
    page = client.get(path, headers=BROWSER_HEADERS)
    html = page.get_data(as_text=True)
    if beacon and page.status_code == 200:
        click = re.search(r'data-click="(\d+)"', html).group(1)
        client.post(
            f"{path}/signal", data={"nonce": nonce_of(html), "click": click, "signal": beacon}, headers=BROWSER_HEADERS
        )
    return page


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def redis_url():
    """A real, empty Redis database, flushed before and after the test."""
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    yield REDIS_URL
    redis.flushdb()


@pytest.fixture
def smtp_server():
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_recorder():
    recorder = HTTPRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the run: its sync API cannot be started twice in one thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright):
    """Debian's headless Chromium, launched once for the run; tests open their own pages or contexts and close them."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    yield browser
    browser.close()


class Helpdesk:
    """Test helper: one generic account and ways to send it signed events and run its jobs."""

    def __init__(self, app, client, callback_url: str | None, **settings) -> None:
        self.app, self.client, self.secret = app, client, "whsec-" + uuid.uuid4().hex
        s = services()
        with s.db.session() as session:
            created = create_account(
                session,
                s.box,
                platform="generic",
                name="Acme Support",
                webhook_secret=self.secret,
                api_url=callback_url,
                **{"delay_minutes": 0, **settings},
            )
        self.account, self.api_key = created.account, created.api_key
        self.url = f"/webhooks/generic/{self.account.key}"

    def event(
        self, event: str = "ticket.solved", ticket_id: str = "T-1", email: str = "casey@customer.test", **extra
    ) -> dict:
        return {
            "event_id": extra.pop("event_id", uuid.uuid4().hex),
            "event": event,
            "occurred_at": utcnow().isoformat(),
            "ticket": {"id": ticket_id, "subject": "Printer jammed", "url": f"https://desk.test/t/{ticket_id}"},
            "requester": {"email": email, "name": "Casey Customer", "locale": "en"},
            "assignee": {"id": "7", "email": "alex@acme.test", "name": "Alex Agent"},
            **extra,
        }

    def post(self, payload: dict | bytes, *, secret: str | None = None, timestamp: int | None = None, headers=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if timestamp is None:  # signed "now" by the app's clock, which tests may have moved
            timestamp = int(services().clock().timestamp())
        signature = signing.sign(secret or self.secret, body, timestamp)
        return self.client.post(
            self.url,
            data=body,
            headers={"Content-Type": "application/json", signing.HEADER: signature, **(headers or {})},
        )

    def run_jobs(self) -> int:
        return run_jobs()

    def api(self, path: str, **kwargs):
        return self.client.get(path, headers={"Authorization": f"Bearer {self.api_key}"}, **kwargs)


def run_jobs() -> int:
    """Sweep and run every due job in this thread, as the in-process worker would."""
    from plugin.jobs.sweep import sweep

    s = services()
    with s.db.session() as session:
        sweep(session, s.jobs, s.clock())
    return s.jobs.drain()


@pytest.fixture
def helpdesk(app, client, http_recorder):
    return Helpdesk(app, client, http_recorder.url + "/callback")


def rating_links(message) -> list[str]:
    """The /r/ links in a survey email's plain-text part, in scale order."""
    text = message.get_body(("plain",)).get_content()
    return re.findall(r"(https?://\S+/r/\S+)", text)


def nonce_of(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


def later(**kwargs):
    return utcnow() + timedelta(**kwargs)


def outbox(app) -> list:
    """Messages the outbox mailer wrote, in the order their surveys were created."""
    from email import message_from_bytes, policy

    folder = services().settings.outbox_path

    def survey_id(path):
        return int(re.search(r"survey-(\d+)-", path.name).group(1))

    files = sorted(folder.glob("*.eml"), key=survey_id) if folder.exists() else []
    return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]
