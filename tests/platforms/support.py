"""Helpers the helpdesk platform tests share: an account pointed at an emulator, rating as a person would, and
reading back what the app stored. The platform's own parts (signatures, webhook headers) stay in its module."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from plugin.accounts import create_account
from plugin.models import Survey, WebhookEvent, WriteBack
from plugin.services import services
from tests.conftest import PUBLIC_URL, nonce_of, rating_links, run_jobs

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fixture_loader(platform: str, *, changes_to: str | None = None) -> Callable[..., dict]:
    """`fixture(name, **changes)`: tests/fixtures/<platform>/<name> as JSON, with `changes` applied at the top
    level or to the object under `changes_to`."""

    def fixture(name: str, **changes) -> dict:
        data = json.loads((FIXTURES / platform / name).read_text())
        (data if changes_to is None else data[changes_to]).update(changes)
        return data

    return fixture


def fixture_bytes(platform: str, name: str) -> bytes:
    return (FIXTURES / platform / name).read_bytes()


def rate(client, message, score: int, comment: str | None = "") -> None:
    """Click the score's link in a survey email and confirm it on the page, as a person would (None: no comment)."""
    link = rating_links(message)[score - 1][len(PUBLIC_URL) :]
    page = client.get(link)
    assert page.status_code == 200
    form = {"nonce": nonce_of(page.get_data(as_text=True)), "score": score}
    if comment is not None:
        form["comment"] = comment
    assert client.post(link, data=form).status_code in (200, 303)


class PlatformAccount:
    """One account of a helpdesk platform pointed at its emulator, and the ways a test drives it over HTTP."""

    def __init__(self, client, platform: str, smtp_server=None, **settings) -> None:
        s = services()
        with s.db.session() as session:
            created = create_account(session, s.box, platform=platform, **{"delay_minutes": 0, **settings})
        self.client, self.smtp = client, smtp_server
        self.key, self.api_key = created.account.key, created.api_key
        self.url = f"/webhooks/{platform}/{self.key}"

    def api(self, path: str):
        return self.client.get(path, headers={"Authorization": f"Bearer {self.api_key}"})

    def run_jobs(self) -> int:
        return run_jobs()

    def rate(self, score: int, comment: str | None = "", message=None) -> None:
        """Rate from the given survey email, or the last one the SMTP server received."""
        rate(self.client, message or self.smtp.messages[-1], score, comment)


def latest_survey(ticket_id: object = None) -> Survey | None:
    """The newest survey, of one ticket when `ticket_id` is given."""
    query = select(Survey).order_by(Survey.id.desc())
    if ticket_id is not None:
        query = query.where(Survey.ticket_id == str(ticket_id))
    with services().db.session() as session:
        return session.scalar(query)


def latest_write_back() -> WriteBack | None:
    with services().db.session() as session:
        return session.scalar(select(WriteBack).order_by(WriteBack.id.desc()))


def make_write_backs_due() -> None:
    with services().db.session() as session:
        session.execute(update(WriteBack).values(next_attempt_at=services().clock() - timedelta(seconds=1)))


def counts() -> tuple[int, int]:
    """How many webhook events and surveys are stored."""
    with services().db.session() as session:
        return session.scalar(select(func.count(WebhookEvent.id))), session.scalar(select(func.count(Survey.id)))
