"""Survey emails opened in a real headless Chromium: every point is a visible link, nothing spills over on a phone.

Also keeps the README's pictures of what the customer receives (docs/img/email-*.png) up to date.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.channels.email import render_survey, survey_links
from plugin.surveys.scales import get_scale
from tests.support.browser import requires_chromium
from tests.test_email_rendering import MAIL_FROM, PUBLIC_URL, TOKENS, make_account, make_survey

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "img"
pytestmark = requires_chromium

CASES = {
    "email-csat5-en.png": ("csat5", "en"),
    "email-csat5-el.png": ("csat5", "el"),
    "email-nps-zh.png": ("nps", "zh_Hans"),
    None: ("thumbs", "ar"),  # checked, not pictured
}


@pytest.mark.parametrize("picture", list(CASES), ids=[str(name) for name in CASES])
def test_the_email_renders_every_point_as_a_visible_link(browser, picture):
    scale_name, locale = CASES[picture]
    survey = make_survey(scale_name, locale, requester_name="Casey")
    account = make_account(scale_name, company_name="Acme Support")
    _, _, html = render_survey(survey, account, survey_links(survey, TOKENS, PUBLIC_URL), MAIL_FROM)
    points = len(get_scale(scale_name).points)
    for width in (640, 360):  # a desktop mail pane and a phone
        with browser.new_page(viewport={"width": width, "height": 700}) as page:
            page.set_content(html)
            links = page.locator("a[href*='/r/']")
            assert links.count() == points
            for index in range(points):
                box = links.nth(index).bounding_box()
                assert box and box["width"] >= 44 and box["height"] >= 44  # big enough to tap
                assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1  # nothing spills off the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            if locale == "ar":  # right to left: the first point sits right of the last (or above it, in a list)
                first, last = links.nth(0).bounding_box(), links.nth(points - 1).bounding_box()
                assert first["x"] > last["x"] or (first["x"] == last["x"] and first["y"] < last["y"])
            if picture and width == 640:
                page.set_viewport_size({"width": 640, "height": int(page.evaluate("document.body.scrollHeight"))})
                page.screenshot(path=str(SCREENSHOTS / picture), full_page=True)
