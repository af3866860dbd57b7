"""The thank-you page in a real headless Chromium: click from the email, see it, change, comment, confirm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from plugin import create_app
from plugin.models import Click, Rating
from plugin.services import services
from tests.conftest import Helpdesk, outbox, rating_links
from tests.support.browser import requires_chromium
from tests.support.servers import free_port, serving

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "img"
pytestmark = requires_chromium


@pytest.fixture
def live(app_config, clock, http_recorder):
    port = free_port()
    app = create_app({**app_config, "PUBLIC_URL": f"http://127.0.0.1:{port}"})
    with serving(app, port), app.app_context():
        services().clock = clock
        yield app, Helpdesk(app, app.test_client(), http_recorder.url)


@pytest.fixture
def page(browser):
    with browser.new_page(viewport={"width": 480, "height": 760}, locale="en-GB") as page:
        yield page


def test_a_customer_rates_changes_and_comments_in_a_real_browser(live, page, clock, http_recorder):
    app, helpdesk = live
    helpdesk.post(helpdesk.event(ticket_id="T-42"))
    helpdesk.run_jobs()
    links = rating_links(outbox(app)[-1])
    clock.advance(minutes=7)

    page.goto(links[3])  # "Satisfied", straight from the email
    assert page.locator('input[name="score"][value="4"]').is_checked()
    assert page.get_by_role("heading", name=re.compile(r"^Thanks! You rated 4\s– Satisfied\.$")).is_visible()
    assert page.get_by_text("What did we do well?").is_visible()  # 4 of 5 is a positive answer
    assert page.get_by_text("You can change your answer until").is_visible()
    page.wait_for_function("() => document.visibilityState === 'visible'")
    page.mouse.move(40, 40, steps=8)  # a pointer path: one jump is no sign of a person (docs/integrity.md)
    page.wait_for_timeout(300)  # let the beacons land
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "rating-page.png"), full_page=True)
    with services().db.session() as session:
        click = session.scalar(select(Click).where(Click.kind == "click"))
        assert click.rendered_at is not None and click.interacted_at is not None  # a real browser's beacons

    page.locator('input[name="score"][value="5"]').check(force=True)
    page.fill("#comment", "Sorted in minutes <b>thanks</b>")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("text=Your rating is saved")
    assert page.locator('input[name="score"][value="5"]').is_checked()
    assert page.input_value("#comment") == "Sorted in minutes <b>thanks</b>"
    assert page.get_by_role("button", name="Save changes").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "rating-saved.png"), full_page=True)

    helpdesk.run_jobs()
    with services().db.session() as session:
        rating = session.scalar(select(Rating))
        assert (rating.score, rating.status, rating.comment) == (5, "counted", "Sorted in minutes <b>thanks</b>")
    assert http_recorder.requests[-1].json()["rating"]["score"] == 5
