"""Fixtures for /admin and the reports: a hand-built month of surveys and ratings, and a signed-in admin."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from plugin.accounts import create_account
from plugin.admin.users import create_admin
from plugin.models import Account, Click, Rating, Survey
from plugin.services import services

PASSWORD = "correct horse battery staple"
JANUARY = {"since": "2026-01-01", "until": "2026-02-01"}


def day(month: int, dom: int, year: int = 2026) -> datetime:
    return datetime(year, month, dom, 12, 0, tzinfo=UTC)


# (agent, team, brand, locale, scale, sent, score or None, rating status, days until rated, comment)
# Hand-computed figures for January are in tests/admin/test_dashboard.py next to each assertion.
ROWS = [
    ("alex@acme.test", "Billing", "Acme", "en", "csat5", day(1, 5), 5, "counted", 1, ""),
    ("alex@acme.test", "Billing", "Acme", "en", "csat5", day(1, 6), 5, "counted", 1, "Quick and kind"),
    ("alex@acme.test", "Billing", "Acme", "en", "csat5", day(1, 7), 4, "counted", 9, ""),
    ("alex@acme.test", "Billing", "Acme", "en", "csat5", day(1, 20), 4, "counted", 1, ""),
    ("alex@acme.test", "Billing", "Acme", "en", "csat5", day(1, 21), 2, "counted", 1, "Took three days to answer"),
    ("alex@acme.test", "Billing", "Acme", "en", "csat5", day(1, 22), None, None, 0, ""),
    ("sam@acme.test", "Billing", "Acme", "de", "csat5", day(1, 8), 5, "counted", 1, ""),
    ("sam@acme.test", "Billing", "Acme", "de", "csat5", day(1, 9), 1, "counted", 1, "Nobody read my question"),
    ("sam@acme.test", "Billing", "Acme", "de", "csat5", day(1, 13), 5, "flagged", 0, ""),
    ("sam@acme.test", "Billing", "Acme", "de", "csat5", day(1, 14), 4, "pending", 0, ""),
    *[("kim@acme.test", "Tech", "Beta", "en", "csat5", day(1, d), 5, "counted", 1, "") for d in (12, 13, 14, 15, 16)],
    ("kim@acme.test", "Tech", "Beta", "en", "csat5", day(1, 27), 3, "counted", 2, '=HYPERLINK("http://x")'),
    ("kim@acme.test", "Tech", "Beta", "en", "csat5", day(1, 28), None, None, 0, ""),
    ("kim@acme.test", "Tech", "Beta", "en", "csat5", day(12, 20, 2025), 1, "counted", 1, "December, not January"),
    ("lee@acme.test", "Tech", "Beta", "en", "nps", day(1, 26), 10, "counted", 1, ""),
    ("lee@acme.test", "Tech", "Beta", "en", "nps", day(1, 27), 9, "counted", 1, ""),
    ("lee@acme.test", "Tech", "Beta", "en", "nps", day(1, 28), 3, "counted", 1, "<script>alert(1)</script>"),
    ("lee@acme.test", "Tech", "Beta", "en", "nps", day(1, 29), None, None, 0, ""),
]


def add_survey(session, account: Account, n: int, row: tuple, status: str = "sent") -> Survey:
    agent, team, brand, locale, scale, sent, score, rating_status, rated_after, comment = row
    survey = Survey(
        account_id=account.id,
        ticket_id=f"T-{n}",
        ticket_subject="Printer jammed",
        ticket_url=f"https://desk.test/t/{n}",
        requester_email=f"customer{n}@example.test",
        locale=locale,
        agent_email=agent,
        team=team,
        brand=brand,
        scale=scale,
        status=status,
        scheduled_at=sent,
        sent_at=sent if status == "sent" else None,
        created_at=sent,
    )
    session.add(survey)
    session.flush()
    if score is not None:
        at = sent + timedelta(days=rated_after, hours=1)
        session.add(
            Rating(
                survey_id=survey.id,
                account_id=account.id,
                agent_email=agent,
                scale=scale,
                score=score,
                comment=comment,
                status=rating_status,
                reasons="several_scores,early_click" if rating_status == "flagged" else "",
                counted_at=at if rating_status == "counted" else None,
                created_at=at,
                updated_at=at,
                version=1,
            )
        )
        session.add(Click(survey_id=survey.id, kind="click", score=score, method="GET", at=at))
    return survey


@dataclass
class Reported:
    account: Account
    api_key: str
    other: Account

    def api(self, client, path: str):
        return client.get(path, headers={"Authorization": f"Bearer {self.api_key}"})


def new_account(session, name: str):
    """A generic account (and its API key) for report fixtures."""
    return create_account(session, services().box, platform="generic", name=name, webhook_secret="s", delay_minutes=0)


@pytest.fixture
def reported(app) -> Reported:
    """Account Acme with the ROWS above plus a skipped survey; account Other with ratings that must never show."""
    with services().db.session() as session:
        acme, other = new_account(session, "Acme"), new_account(session, "Other")
        for n, row in enumerate(ROWS, 1):
            add_survey(session, acme.account, n, row)
        add_survey(session, acme.account, 99, ROWS[0], status="skipped")
        for n in range(3):
            add_survey(
                session,
                other.account,
                200 + n,
                ("zed@other.test", "Billing", "Acme", "en", "csat5", day(1, 10), 1, "counted", 1, "other account"),
            )
    return Reported(acme.account, acme.api_key, other.account)


@pytest.fixture
def admin(app, reported) -> str:
    """An admin of Acme; returns the email."""
    with services().db.session() as session:
        create_admin(session, session.get(Account, reported.account.id), "lead@acme.test", PASSWORD)
    return "lead@acme.test"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, email: str, password: str = PASSWORD, follow: bool = False):
    token = csrf_of(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login",
        data={"csrf_token": token, "email": email, "password": password},
        follow_redirects=follow,
    )


@pytest.fixture
def signed_in(client, admin):
    """The test client, signed in as Acme's admin."""
    assert sign_in(client, admin).status_code == 303
    return client
