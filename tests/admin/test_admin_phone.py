"""The admin pages on a phone: real headless Chromium at 390 px (and 320 px), in a long-word language and in Arabic
(right to left); nothing may make the page scroll sideways. Wide tables scroll inside their own box instead.

Run once, in the PostgreSQL pass (a layout sweep is not about the database).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from plugin.models import Account, AdminUser
from plugin.services import services
from tests.admin.conftest import PASSWORD
from tests.admin.test_admin_browser import DOCS_IMG, seed_quarter
from tests.support.browser import requires_chromium
from tests.support.servers import serving

pytestmark = [
    requires_chromium,
    pytest.mark.skipif(
        os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql",
        reason="a browser layout sweep runs once, in the PostgreSQL pass",
    ),
]
PAGES = (
    "/admin/?since=2026-01-05&until=2026-03-30&bucket=week",
    "/admin/settings",
    "/admin/people",
    "/admin/preferences",
    "/admin/write-backs",
)
# Every element wider than the viewport or reaching past its right (or, in RTL, left) edge, outside a scroll box.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.scroll') && !el.classList.contains('scroll')) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5))
      out.push(`${el.tagName}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, out: out.slice(0, 5)};
}"""


@pytest.mark.parametrize(("width", "locale"), [(390, "pl"), (390, "ar"), (320, "el")])
def test_no_admin_page_scrolls_sideways_on_a_phone(app, browser, reported, admin, locale, width):
    seed_quarter(reported.account, datetime(2026, 1, 5, 9, tzinfo=UTC))
    with services().db.session() as session:
        session.execute(update(Account).where(Account.id == reported.account.id).values(locale=locale))
        session.execute(update(AdminUser).values(digest_weekday=0))
    with serving(app) as url, browser.new_context(viewport={"width": width, "height": 800}) as context:
        page = context.new_page()
        page.goto(f"{url}/admin/login")
        page.fill("#email", admin)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        for path in PAGES:
            page.goto(url + path)
            found = page.evaluate(OVERFLOWING)
            assert found["scrollWidth"] <= width and not found["out"], (path, found)
            if path.startswith("/admin/?") and (locale, width) == ("pl", 390):
                DOCS_IMG.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(DOCS_IMG / "admin-dashboard-390.png"), full_page=True)
