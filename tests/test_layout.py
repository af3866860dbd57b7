"""The customer's screens laid out in a real Chromium: every scale x every language x a small phone, a phone, a desktop.

For the thank-you page (as the click route serves it, and after the customer confirms) and the survey email, the
page's own DOM says whether the layout holds: no option overlaps another, no text runs outside its box, no word is
split across two lines, nothing scrolls sideways, every option is a tap target of at least 44 x 44 CSS px, and on the
0-10 scales the end labels sit at the ends they name; and, in light and dark mode, every text and option edge has the
contrast WCAG 2.2 AA asks. Every combination is screenshotted into a folder the test
prints (not committed); OPENCSAT_UPDATE_SCREENSHOTS=1 also refreshes the curated pictures in docs/img/.

One browser page serves every combination (the HTML is handed to it through a routed URL), so the sweep stays
within a minute or two; it runs in the PostgreSQL pass only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plugin import i18n
from plugin.accounts import create_account
from plugin.channels.email import render_survey, survey_links
from plugin.models import Survey
from plugin.services import services
from plugin.surveys.scales import SCALES
from tests.conftest import BROWSER_HEADERS, PUBLIC_URL, nonce_of
from tests.support.browser import requires_chromium

pytestmark = [
    requires_chromium,
    pytest.mark.skipif(
        os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql",
        reason="the layout sweep is database-independent and heavy: it runs once, in the PostgreSQL pass",
    ),
]

WIDTHS = (320, 390, 1280)
# While working on one scale or language: OPENCSAT_LAYOUT_ONLY="nps el" sweeps only those (CI sweeps everything).
ONLY = set(os.environ.get("OPENCSAT_LAYOUT_ONLY", "").split())
SWEPT_SCALES = [name for name in SCALES if not ONLY & set(SCALES) or name in ONLY]
SWEPT_LOCALES = [name for name in i18n.LOCALES if not ONLY & set(i18n.LOCALES) or name in ONLY]
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
# (what, scale, locale, width) -> its picture in docs/img/, refreshed with OPENCSAT_UPDATE_SCREENSHOTS=1
CURATED = {
    ("page-clicked", "csat5", "el", 390): "thank-you-el-390.png",
    ("page-clicked", "csat5", "pl", 390): "thank-you-pl-390.png",
    ("page-clicked", "csat5", "zh_Hans", 390): "thank-you-zh_Hans-390.png",
    ("page-clicked", "nps", "en", 320): "thank-you-nps-320.png",
    ("page-saved", "csat5", "en", 390): "thank-you-saved-en-390.png",
    ("page-clicked", "ces7", "ar", 390): "thank-you-ces7-ar-390.png",
    ("email", "nps", "ar", 320): "email-nps-ar-320.png",
}
UPDATE = bool(os.environ.get("OPENCSAT_UPDATE_SCREENSHOTS"))
# A 1x1 PNG for the account's logo: the browser asks for it, the route answers.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a2b8d5a40000000049454e44ae426082"
)

# Runs in the page; returns what is wrong with its layout, one sentence per problem.
CHECK = r"""
({option, targets, count, lang}) => {
  const problems = [];
  const root = document.documentElement;
  const width = root.clientWidth;
  if (root.scrollWidth > width + 1) problems.push(`scrolls sideways: ${root.scrollWidth}px wide in ${width}px`);
  const options = [...document.querySelectorAll(option)];
  if (options.length !== count) problems.push(`${options.length} options shown, the scale has ${count}`);
  const box = (el) => el.getBoundingClientRect();
  const name = (el) => JSON.stringify(el.textContent.trim().replace(/\s+/g, " ").slice(0, 40));
  options.forEach((el, i) => {
    const r = box(el);
    const size = `${r.width.toFixed(0)}x${r.height.toFixed(0)}px`;
    if (r.width < 44 || r.height < 44) problems.push(`option ${name(el)} is ${size}`);
    if (r.left < -1 || r.right > width + 1) problems.push(`option ${name(el)} is off the screen`);
    options.slice(i + 1).forEach((other) => {
      const o = box(other);
      const x = Math.min(r.right, o.right) - Math.max(r.left, o.left);
      const y = Math.min(r.bottom, o.bottom) - Math.max(r.top, o.top);
      if (x > 1 && y > 1) problems.push(`options ${name(el)} and ${name(other)} overlap`);
    });
  });
  for (const el of document.querySelectorAll(targets)) {  // reason tags, the button
    const r = box(el);
    if (r.width && (r.width < 44 || r.height < 44))
      problems.push(`target ${name(el)} is ${r.width.toFixed(0)}x${r.height.toFixed(0)}px`);
  }
  // Every text node: its lines inside the box that holds it, and no word on two lines.
  const segmenter = new Intl.Segmenter(lang, {granularity: "word"});
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const blockOf = (node) => {
    let el = node.parentElement;
    while (el && getComputedStyle(el).display === "inline") el = el.parentElement;
    return el;
  };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const lines = [...range.getClientRects()].filter((r) => r.width > 0.5);
    if (!lines.length) continue;  // not displayed
    // Inside every box around it, not just the nearest: a flex item can be wider than the option that holds it.
    const holder = blockOf(node);
    const style = getComputedStyle(holder);
    for (let el = holder; el && el !== document.documentElement; el = el.parentElement) {
      if (getComputedStyle(el).display === "inline") continue;
      const h = box(el);
      const out = lines.find((r) => r.left < h.left - 1 || r.right > h.right + 1);
      if (out) {
        const where = `${out.left.toFixed(0)}-${out.right.toFixed(0)} in ${h.left.toFixed(0)}-${h.right.toFixed(0)}`;
        problems.push(`text ${name(node)} runs outside its <${el.tagName.toLowerCase()}> (${where})`);
        break;
      }
    }
    if (lines.some((r) => r.left < -1 || r.right > width + 1)) problems.push(`text ${name(node)} is off the screen`);
    if (holder.scrollWidth > holder.clientWidth + 1 && style.overflowX !== "visible")
      problems.push(`text ${name(node)} is clipped`);
    // Names, subjects and reasons the account or helpdesk supplies (class user-text) may break anywhere.
    if (node.parentElement.closest(".user-text")) continue;
    for (const part of segmenter.segment(node.textContent)) {
      // Chinese breaks between any two characters (W3C's clreq), so only words of spaced scripts are checked.
      if (!part.isWordLike || [...part.segment].length < 2 || /\p{Script=Han}/u.test(part.segment)) continue;
      const word = document.createRange();
      word.setStart(node, part.index);
      word.setEnd(node, part.index + part.segment.length);
      const tops = new Set([...word.getClientRects()].filter((r) => r.width > 0.5).map((r) => Math.round(r.top / 3)));
      if (tops.size > 1) { problems.push(`the word ${JSON.stringify(part.segment)} is split across lines`); break; }
    }
  }
  // 0-10 scales: "0 = ..." starts where the first option starts, "10 = ..." ends where the last ends, beside them.
  const ends = {low: document.querySelector("[data-end=low]"), high: document.querySelector("[data-end=high]")};
  if (options.length > 7) {
    const dir = getComputedStyle(options[0]).direction;
    const first = box(options[0]), last = box(options[options.length - 1]);
    const startOf = (r) => dir === "rtl" ? r.right : r.left, endOf = (r) => dir === "rtl" ? r.left : r.right;
    const near = (a, b) => Math.max(a.top - b.bottom, b.top - a.bottom) <= 16;
    if (!ends.low || !ends.high) problems.push("the 0-10 scale's end labels are not marked (data-end)");
    else {
      const low = box(ends.low), high = box(ends.high);
      if (Math.abs(startOf(low) - startOf(first)) > 3 || !near(low, first))
        problems.push(`the low end label is not beside the first option`);
      if (Math.abs(endOf(high) - endOf(last)) > 3 || !near(high, last))
        problems.push(`the high end label is not beside the last option`);
    }
  }
  return [...new Set(problems)];
}
"""

# Runs in the page; every text against what is behind it (4.5:1, WCAG 2.2 1.4.3) and every option's edge (3:1, 1.4.11).
CONTRAST = r"""
({option}) => {
  const problems = [];
  const parse = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const behind = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/[\p{Extended_Pictographic}\uFE0F]/gu, "").trim();
    if (!text) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    if (![...range.getClientRects()].some((r) => r.width > 0.5)) continue;
    const el = node.parentElement;
    const found = ratio(parse(getComputedStyle(el).color).slice(0, 3), behind(el));
    if (found < 4.5) problems.push(`text ${JSON.stringify(text.slice(0, 30))} has contrast ${found.toFixed(2)}:1`);
  }
  for (const el of document.querySelectorAll(option)) {
    const edge = el.closest("td.cell") || el;
    const style = getComputedStyle(edge);
    if (parseFloat(style.borderTopWidth) < 1) continue;
    const found = ratio(parse(style.borderTopColor), behind(edge.parentElement));
    const label = JSON.stringify(el.textContent.trim().slice(0, 20));
    if (found < 3) problems.push(`option ${label} edge ${found.toFixed(2)}:1`);
  }
  return [...new Set(problems)];
}
"""


@pytest.fixture
def layout_page(browser, app):
    """One page for the whole sweep: whatever HTML is put in `pages[url]` is what the browser gets at that URL."""
    pages: dict[str, str] = {}

    def answer(route):
        url = route.request.url
        if url in pages:
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=pages[url])
        elif url.endswith(".png"):
            route.fulfill(status=200, content_type="image/png", body=PIXEL)
        else:
            route.fulfill(status=204, body="")  # beacons

    with browser.new_context(viewport={"width": WIDTHS[0], "height": 800}) as context:
        context.route("**/*", answer)
        page = context.new_page()
        yield page, pages


def _surveys(app) -> tuple[object, list[Survey]]:
    s = services()
    with s.db.session() as session:
        account = create_account(
            session,
            s.box,
            platform="generic",
            name="Layout Test Co",
            webhook_secret="layout-secret",
            options={
                "company_name": "Donaudampfschifffahrtsgesellschaftskundendienst GmbH",  # one 47-letter word
                "accent_color": "#7a1fa2",
                "logo_url": "https://brand.example/logo.png",
                # reason tags on the negative answers' pages, long words included
                "reason_tags": "Slow answer\nProblem not solved\nHad to repeat myself\nUnfriendly",
                "reason_tags_de": "Langsame Antwort\nProblem nicht gelöst\nMusste mich wiederholen\nUnfreundlich",
                "reason_tags_el": "Αργή απάντηση\nΤο πρόβλημα δεν λύθηκε\nΧρειάστηκε επανάληψη\nΑγενής συμπεριφορά",
                "reason_tags_pl": "Długie oczekiwanie\nProblem nierozwiązany\nTrzeba było powtarzać\nNieuprzejmość",
            },
        )
        account = account.account
        surveys = []
        for scale in SWEPT_SCALES:
            for locale in SWEPT_LOCALES:
                survey = Survey(
                    account_id=account.id,
                    ticket_id=f"{scale}-{locale}",
                    ticket_subject="Drucker: 0x80070005_ERROR_ACCESS_DENIED_SPOOLER_SUBSYSTEM_APP / printer stopped",
                    requester_email=f"{scale}.{locale}@customer.test",
                    requester_name="Aleksandra Wiśniewska-Papadopoulou",
                    locale=locale,
                    scale=scale,
                    status="sent",
                    scheduled_at=s.clock(),
                    sent_at=s.clock(),
                )
                session.add(survey)
                surveys.append(survey)
        session.commit()
        for survey in surveys:
            session.refresh(survey)
        session.expunge_all()
    return account, surveys


def test_every_scale_and_language_lays_out_cleanly_on_phones_and_desktops(app, layout_page, tmp_path_factory, capsys):
    page, pages = layout_page
    folder = Path(os.environ.get("OPENCSAT_LAYOUT_SCREENSHOTS") or tmp_path_factory.mktemp("layout"))
    folder.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nlayout screenshots: {folder}")
    account, surveys = _surveys(app)
    client, tokens = app.test_client(), services().tokens
    problems: list[str] = []
    combinations = 0
    for survey in surveys:
        scale = SCALES[survey.scale]
        lowest, highest = scale.points[0].score, scale.points[-1].score
        path = f"/r/{tokens.rating(survey.id, lowest)}"
        clicked = client.get(path, headers=BROWSER_HEADERS)
        assert clicked.status_code == 200, (survey.scale, survey.locale, clicked.status_code)
        html = clicked.get_data(as_text=True)
        saved = client.post(path, data={"nonce": nonce_of(html), "score": str(highest), "comment": "ok"})
        assert saved.status_code == 200, (survey.scale, survey.locale, saved.status_code)
        with services().db.session() as session:
            survey = session.get(Survey, survey.id)
            links = survey_links(survey, tokens, PUBLIC_URL)
            _, _, email = render_survey(survey, survey.account, links, "Surveys <surveys@opencsat.test>")
        on_page = ("label:has(> input[name=score])", "label:has(> input), button")
        screens = {
            "page-clicked": (html, *on_page),
            "page-saved": (saved.get_data(as_text=True), *on_page),
            "email": (email, "a[href*='/r/']", "a[href*='/r/']"),
        }
        for what, (content, option, targets) in screens.items():
            url = f"{PUBLIC_URL}/layout/{what}/{survey.scale}/{survey.locale}"
            pages[url] = content
            page.set_viewport_size({"width": WIDTHS[0], "height": 800})
            page.goto(url)
            for width in WIDTHS:  # one load, three widths: the media queries follow the resize
                page.set_viewport_size({"width": width, "height": 800})
                found = page.evaluate(
                    CHECK,
                    {
                        "option": option,
                        "targets": targets,
                        "count": len(scale.points),
                        "lang": i18n.html_lang(survey.locale),
                    },
                )
                combinations += 1
                name = f"{what}-{survey.scale}-{survey.locale}-{width}"
                # JPEG for the sweep (several times faster to encode than PNG); PNG for the pictures in docs/img
                page.screenshot(path=str(folder / f"{name}.jpg"), full_page=True, quality=70, caret="hide")
                if UPDATE and (what, survey.scale, survey.locale, width) in CURATED:
                    page.screenshot(
                        path=str(DOCS_IMG / CURATED[what, survey.scale, survey.locale, width]), full_page=True
                    )
                problems += [f"{name}: {problem}" for problem in found]
            page.set_viewport_size({"width": 390, "height": 800})
            for scheme in ("light", "dark"):  # WCAG AA contrast in both colour schemes
                page.emulate_media(color_scheme=scheme)
                found = page.evaluate(CONTRAST, {"option": option})
                problems += [f"{what}-{survey.scale}-{survey.locale} ({scheme}): {problem}" for problem in found]
            page.screenshot(
                path=str(folder / f"{what}-{survey.scale}-{survey.locale}-390-dark.jpg"), full_page=True, quality=70
            )
            page.emulate_media(color_scheme="light")
    assert combinations == len(SWEPT_SCALES) * len(SWEPT_LOCALES) * len(WIDTHS) * 3
    assert not problems, f"{len(problems)} layout problems (screenshots in {folder}):\n" + "\n".join(problems[:200])
