"""Real headless Chromium opens the sidebar at 320 px and keeps a screenshot for the docs (docs/img/sidebar.png)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from plugin.db import utcnow
from plugin.sidebar_auth import SidebarTokens
from tests.conftest import SECRET_KEY
from tests.support.servers import free_port
from tests.test_sidebar import accounts_with_ratings  # noqa: F401 (the same hand-computed fixture)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "img" / "sidebar.png"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


@pytest.fixture
def served(app):
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_sidebar_reads_well_at_320_px(served, accounts_with_ratings):  # noqa: F811
    from playwright.sync_api import sync_playwright

    token = SidebarTokens(SECRET_KEY).account_token(accounts_with_ratings["generic"], utcnow() + timedelta(days=1))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 320, "height": 640})
        page.goto(f"{served}/sidebar/generic?token={token}&ticket=T2")
        assert page.locator(".score").first.inner_text() == "2/5"
        assert page.locator("blockquote").first.inner_text() == "slow"
        assert page.locator("td.csat").all_inner_texts() == ["50%", "67%", "75%"]
        assert page.locator("svg polyline").count() >= 1
        # Nothing wider than the sidebar: no horizontal scrolling inside a 320 px iframe.
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert SCREENSHOT.stat().st_size > 5000
