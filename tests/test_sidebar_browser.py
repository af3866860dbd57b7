"""Real headless Chromium opens the sidebar at 320 px and keeps a screenshot for the docs (docs/img/sidebar.png)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import requires_chromium
from tests.support.servers import serving
from tests.test_sidebar import _token, accounts_with_ratings  # noqa: F401 (the same hand-computed fixture)

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "img" / "sidebar.png"

pytestmark = requires_chromium


@pytest.fixture
def served(app):
    with serving(app) as url:
        yield url


def test_sidebar_reads_well_at_320_px(served, accounts_with_ratings, browser):  # noqa: F811
    token = _token(accounts_with_ratings["generic"])
    with browser.new_page(viewport={"width": 320, "height": 640}) as page:
        page.goto(f"{served}/sidebar/generic?token={token}&ticket=T2")
        assert page.locator(".score").first.inner_text() == "2/5"
        assert page.locator("blockquote").first.inner_text() == "slow"
        assert page.locator("td.csat").all_inner_texts() == ["50%", "67%", "75%"]
        assert page.locator("svg polyline").count() >= 1
        # Nothing wider than the sidebar: no horizontal scrolling inside a 320 px iframe.
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 5000
