"""Real headless Chromium: sign in, open the dashboard, filter, export CSV; screenshots go to docs/img/."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from plugin.models import Account
from plugin.services import services
from tests.admin.conftest import PASSWORD, add_survey
from tests.support.browser import requires_chromium
from tests.support.servers import serving

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

pytestmark = requires_chromium

AGENTS = {  # agent: (team, chance a response is satisfied, chance the customer answers)
    "alex@acme.test": ("Billing", 0.86, 0.55),
    "sam@acme.test": ("Billing", 0.58, 0.35),
    "kim@acme.test": ("Tech", 0.93, 0.6),
    "lee@acme.test": ("Tech", 0.8, 0.5),
    "noor@acme.test": ("Tech", 0.7, 0.45),
    "ola@acme.test": ("Onboarding", 1.0, 1.0),  # 4 surveys, all answered: too few to rank
}
COMPLAINTS = ["Took three days to answer", "Had to explain it twice", "The fix did not work", "Nobody called back"]
PRAISE = ["Quick and kind", "Solved on the first reply", "Great explanation, thanks!"]


def seed_quarter(account: Account, start: datetime) -> None:
    """Twelve weeks of surveys for six agents, deterministic, with comments and one flagged click."""
    rng = random.Random(6)
    n = 1000
    with services().db.session() as session:
        for week in range(12):
            for agent, (team, happy, answers) in AGENTS.items():
                for _ in range(rng.randint(3, 7) if agent != "ola@acme.test" else int(week < 4)):
                    n += 1
                    sent = start + timedelta(days=week * 7 + rng.randint(0, 4), hours=rng.randint(0, 8))
                    score = None
                    if rng.random() < answers:
                        score = rng.choice([4, 5, 5]) if rng.random() < happy else rng.choice([1, 2, 3])
                    comment = ""
                    if score is not None and rng.random() < 0.25:
                        comment = rng.choice(PRAISE if score >= 4 else COMPLAINTS)
                    status = "flagged" if n == 1010 else "counted"
                    row = (
                        agent,
                        team,
                        "Acme",
                        rng.choice(["en", "en", "de"]),
                        "csat5",
                        sent,
                        score,
                        status,
                        1,
                        comment,
                    )
                    add_survey(session, account, n, row)


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on loopback."""
    with serving(app) as url:
        yield url


@pytest.fixture
def browser_page(browser):
    """A page of its own context, which accepts downloads (the CSV export)."""
    with browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True) as context:
        yield context.new_page()


def test_team_lead_signs_in_filters_and_exports(live_server, browser_page, reported, admin, tmp_path):
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    seed_quarter(reported.account, start)
    page = browser_page
    period = "since=2026-01-05&until=2026-03-30&bucket=week"

    page.goto(f"{live_server}/admin/?{period}")
    assert "/admin/login" in page.url  # not signed in yet
    page.fill("#email", admin)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/admin/?{period}")
    assert page.locator("h1").inner_text() == "Dashboard"
    page.wait_for_function("document.querySelector('#chart-over-time').width > 0")
    page.wait_for_function("!!window.Chart && Chart.getChart('chart-agents') !== undefined")
    ranked = page.locator("table[data-table=agent] tbody tr").all_inner_texts()
    assert ranked[0].startswith("1\t") and any(row.startswith("unranked") for row in ranked)  # ola: too few
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / "admin-dashboard.png"), full_page=True)

    page.select_option("#f-team", "Billing")
    page.click("text=Apply filters")
    page.wait_for_url("**team=Billing**")
    agents = page.locator("table[data-table=agent] tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(agents) == ["alex@acme.test", "sam@acme.test"]
    sent_text = page.locator('[data-figure="response_rate"] + .muted').inner_text()

    with page.expect_download() as download_info:
        page.click("text=Export CSV")
    download = download_info.value
    assert download.suggested_filename == "ratings.csv"
    saved = tmp_path / "ratings.csv"
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert rows and {r["team"] for r in rows} == {"Billing"}
    counted = sum(1 for r in rows if r["status"] == "counted")
    assert sent_text.startswith(f"{counted} of ")  # the CSV holds exactly the responses the page counts

    page.goto(f"{live_server}/admin/settings")
    page.fill("#delay_minutes", "abc")
    page.click("text=Save settings")
    assert "Use a whole number" in page.locator("#delay_minutes-error").inner_text()
    page.screenshot(path=str(DOCS_IMG / "admin-settings.png"), full_page=True)
