"""The survey email in every scale and language, branding, template overrides, and snapshots of a few emails.

Snapshots live in tests/snapshots/; after an intended change to the templates or catalogues, refresh them with
`OPENCSAT_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q tests/test_email_rendering.py` and review the diff.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from plugin import i18n
from plugin.channels.email import branding, build_survey_email, render_survey, survey_links
from plugin.models import Account, Survey
from plugin.surveys.scales import SCALES, scale_for
from plugin.templating import environment
from plugin.tokens import Tokens

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
MAIL_FROM = "OpenCSAT <surveys@opencsat.test>"
PUBLIC_URL = "https://csat.example.com"
TOKENS = Tokens("snapshot-secret-key-0123456789")
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def make_account(scale: str = "csat5", **options) -> Account:
    return Account(id=3, key="acct-key-1", name="Acme Support", locale="en", scale=scale, options=options)


def make_survey(scale: str = "csat5", locale: str = "en", **fields) -> Survey:
    values = dict(
        id=41,
        account_id=3,
        ticket_id="T-1001",
        ticket_subject="Printer jammed",
        requester_email="casey@customer.test",
        requester_name="Casey Customer",
        locale=locale,
        scale=scale,
        scheduled_at=WHEN,
        created_at=WHEN,
    )
    return Survey(**{**values, **fields})


def message_for(survey: Survey, account: Account):
    message = build_survey_email(survey, account, survey_links(survey, TOKENS, PUBLIC_URL), MAIL_FROM)
    return message_from_bytes(bytes(message), policy=policy.default)  # as a mail client would parse it


class Anchors(HTMLParser):
    """Every <a href> of a page with its text, and every element's lang/dir."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict] = []
        self.html_attrs: dict = {}
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.html_attrs = attrs
        if tag == "a":
            self._open = {**attrs, "text": ""}
            self.links.append(self._open)

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = None


def parse(html: str) -> Anchors:
    parser = Anchors()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("locale", i18n.LOCALES)
@pytest.mark.parametrize("scale_name", list(SCALES))
def test_every_scale_renders_in_every_language_with_valid_links(scale_name, locale):
    survey, account = make_survey(scale_name, locale), make_account(scale_name)
    message = message_for(survey, account)
    scale = scale_for(scale_name)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    page = parse(html)
    rating_links = [a for a in page.links if "/r/" in a["href"]]
    # One link per point, in scale order, each a valid token for this survey and that point's score.
    assert [TOKENS.read_rating(a["href"].rsplit("/", 1)[1]).score for a in rating_links] == list(scale.scores)
    assert {TOKENS.read_rating(a["href"].rsplit("/", 1)[1]).survey_id for a in rating_links} == {41}
    text_links = re.findall(r"https://\S+/r/\S+", text)
    assert text_links == [a["href"] for a in rating_links]  # the plain-text part has the same links
    for anchor in rating_links:
        # Readable with images blocked and by screen readers: visible text (a number or a label) on every link.
        assert anchor["text"].strip()
        if not scale.numeric_row:
            assert (
                i18n.gettext(locale, scale.point(int(TOKENS.read_rating(anchor["href"].rsplit("/", 1)[1]).score)).label)
                in anchor["text"]
            )
    if scale.numeric_row:
        low, high = i18n.gettext(locale, scale.low_label), i18n.gettext(locale, scale.high_label)
        assert low in html and high in html and low in text and high in text
        assert rating_links[0]["aria-label"].endswith(low) and rating_links[-1]["aria-label"].endswith(high)
    question = i18n.gettext(locale, scale.question)
    assert question in html and question in text
    unsubscribe = [a["href"] for a in page.links if "/unsubscribe/" in a["href"]]
    assert unsubscribe == [message["List-Unsubscribe"].strip("<>")]
    assert unsubscribe[0] in text and unsubscribe[0].endswith(f"?lang={locale}")
    assert TOKENS.read_unsubscribe(unsubscribe[0].split("/unsubscribe/")[1].split("?")[0]) == (3, "casey@customer.test")
    assert page.html_attrs["lang"] == i18n.html_lang(locale)
    assert page.html_attrs["dir"] == ("rtl" if locale == "ar" else "ltr")
    if locale != "en":  # translated, not English with a lang attribute
        assert "Your request has been solved." not in html + text
        assert message["Subject"] != "How did we do? Re: Printer jammed"


def test_every_catalogue_translates_every_string_with_its_placeholders():
    from babel.messages.pofile import read_po

    for locale in i18n.LOCALES:
        if locale == "en":
            continue
        path = i18n.TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
        with open(path, "rb") as handle:
            catalog = read_po(handle, locale=locale)
        for message in catalog:
            if not message.id:
                continue
            forms = message.string if message.pluralizable else (message.string,)
            original = message.id[-1] if message.pluralizable else message.id
            for form in forms:
                assert form, f"{locale}: {message.id!r} is not translated"
                assert sorted(re.findall(r"%\(\w+\)s", original)) == sorted(re.findall(r"%\(\w+\)s", form))


def test_the_catalogues_hold_every_string_the_code_marks(tmp_path):
    """`make extract` would find nothing new: the catalogues are in step with the templates and code."""
    from babel.messages.frontend import CommandLineInterface
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent
    target = tmp_path / "messages.pot"
    cwd = os.getcwd()
    os.chdir(root)
    try:
        CommandLineInterface().run(["pybabel", "-q", "extract", "-F", "babel.cfg", "-k", "N_", "-o", str(target), "."])
    finally:
        os.chdir(cwd)
    with open(target, "rb") as handle:
        extracted = {m.id for m in read_po(handle) if m.id}
    with open(i18n.TRANSLATIONS_DIR / "de" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalogued = {m.id for m in read_po(handle) if m.id}
    assert extracted <= catalogued, f"run `make update` and translate: {sorted(extracted - catalogued)}"


def test_branding_sets_sender_reply_to_logo_colour_company_and_footer():
    account = make_account(
        sender_name="Acme Care",
        sender_address="care@acme.example",
        reply_to="help@acme.example",
        logo_url="https://cdn.acme.example/logo.png",
        accent_color="#c2410c",
        company_name="Acme Inc.",
        footer="Acme Inc., 1 Main St\nSpringfield",
    )
    message = message_for(make_survey(), account)
    assert message["From"] == "Acme Care <care@acme.example>"
    assert message["Reply-To"] == "help@acme.example"
    assert message["Message-ID"].endswith("@opencsat.test>")  # the service's domain, whatever the sender
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert '<img src="https://cdn.acme.example/logo.png" alt="Acme Inc."' in html
    assert "#c2410c" in html and "Acme Inc., 1 Main St<br>Springfield<br>" in html
    assert "Acme Inc., 1 Main St\nSpringfield" in text and "because Acme Inc. answered" in text


@pytest.mark.parametrize(
    "options",
    [
        {
            "accent_color": "red;background:url(x)",
            "logo_url": "javascript:alert(1)",
            "sender_address": "a@b\r\nBcc: x@y.z",
        },
        {"accent_color": "#12", "logo_url": 'https://x.test/a"onerror="1', "reply_to": "not an address"},
    ],
)
def test_branding_junk_falls_back_to_defaults(options):
    brand = branding(make_account(**options), MAIL_FROM)
    assert brand.accent == "#0969da" and brand.logo_url is None and brand.reply_to is None
    assert brand.sender_address == "surveys@opencsat.test"
    message = message_for(make_survey(), make_account(**options))
    assert message["Bcc"] is None and "onerror" not in message.get_body(("html",)).get_content()


def test_html_is_table_based_with_inlined_css_and_dark_mode_rules():
    html = message_for(make_survey(), make_account()).get_body(("html",)).get_content()
    assert 'role="presentation"' in html and "<table" in html and "<div class" not in html
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    # Only @media rules stay in a <style> tag (they cannot be inlined); every class rule is on its element.
    assert len(styles) == 1 and re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", styles[0]).strip() == ""
    assert "prefers-color-scheme: dark" in styles[0]
    assert re.search(r'<a class="point" [^>]*style="display: block;', html)  # inlined onto the link
    assert '<meta name="color-scheme" content="light dark">' in html


def test_the_account_may_override_the_question_per_language():
    account = make_account(question="How did Alex do today?", question_de="Wie hat Alex Ihnen heute geholfen?")
    assert "How did Alex do today?" in message_for(make_survey(locale="fr"), account).get_body(("plain",)).get_content()
    german = message_for(make_survey(locale="de"), account).get_body(("plain",)).get_content()
    assert "Wie hat Alex Ihnen heute geholfen?" in german and "Wie bewerten Sie" not in german


def test_the_account_may_override_templates_without_editing_the_package(tmp_path):
    folder = tmp_path / "templates"
    (folder / "acct-key-1" / "email").mkdir(parents=True)
    (folder / "acct-key-1" / "email" / "survey.html").write_text(
        '{% extends "package/email/survey.html" %}{% block after %}<tr><td>Acme says thanks!</td></tr>{% endblock %}'
    )
    (folder / "email").mkdir()
    (folder / "email" / "survey_subject.txt").write_text("{{ _('How did we do?') }} [all accounts]")
    survey, account = make_survey(locale="de"), make_account()
    links = survey_links(survey, TOKENS, PUBLIC_URL)
    from plugin import templating

    previous = templating.override_path()
    templating._override_path = folder
    try:
        subject, text, html = render_survey(survey, account, links, MAIL_FROM)
        other = make_account()
        other.key = "another-account"
        _, _, other_html = render_survey(survey, other, links, MAIL_FROM)
    finally:
        templating._override_path = previous
    assert "Acme says thanks!" in html and "Wie bewerten Sie" in html  # the block replaced, the rest kept
    assert subject == "Wie zufrieden waren Sie? [all accounts]"
    assert "Acme says thanks!" not in other_html


def test_csat10_eight_counts_as_satisfied_when_the_account_says_so():
    from plugin.surveys.metrics import csat_percent

    scores = [8, 9, 10, 7]
    assert csat_percent(scores, scale_for("csat10")) == 50.0
    assert csat_percent(scores, scale_for("csat10", {"csat10_eight_is_satisfied": "true"})) == 75.0
    assert scale_for("csat5", {"csat10_eight_is_satisfied": "true"}).satisfied == frozenset({4, 5})


SNAPSHOT_CASES = {
    "csat5-en": ("csat5", "en", {}),
    "nps-zh_Hant": ("nps", "zh-TW", {}),
    "thumbs-ar-branded": (
        "thumbs",
        "ar",
        {"company_name": "Acme", "accent_color": "#7c3aed", "footer": "Acme, 1 Main St", "reply_to": "help@acme.test"},
    ),
    "ces7-de": ("ces7", "de-AT", {}),
}


@pytest.mark.parametrize("case", list(SNAPSHOT_CASES))
def test_snapshots_of_representative_emails(case):
    scale, locale, options = SNAPSHOT_CASES[case]
    survey = make_survey(scale, i18n.normalise(locale))
    subject, text, html = render_survey(
        survey, make_account(scale, **options), survey_links(survey, TOKENS, PUBLIC_URL), MAIL_FROM
    )
    rendered = f"Subject: {subject}\n\n{text}\n\n{html}\n"
    path = SNAPSHOTS / f"email-{case}.txt"
    if os.environ.get("OPENCSAT_UPDATE_SNAPSHOTS") or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8"), f"{path.name} changed; see this module's docstring to refresh"


def test_email_environments_are_per_language():
    assert environment("el").globals["direction"] == "ltr" and environment("ar").globals["direction"] == "rtl"
    assert environment("xx") is environment("en")


@settings(max_examples=60, deadline=None)
@example(subject="Rate\x85this", name="Casey\u2028Customer", company="Acme\u2029Support")  # found by this test
@given(
    subject=st.text(min_size=1, max_size=120),
    name=st.text(max_size=80),
    company=st.text(max_size=80),
)
def test_whatever_the_customer_and_account_write_the_two_parts_read_back_whole(subject, name, company):
    """The message's boundary is chosen before its parts are known ("=_", which quoted-printable never holds): a
    mail client must still find exactly the two parts, each with the text we rendered, whatever the subject, the
    customer's name and the company name hold."""
    survey = make_survey(ticket_subject=subject, requester_name=name)
    account = make_account(company_name=company)
    _, text, html = render_survey(survey, account, survey_links(survey, TOKENS, PUBLIC_URL), MAIL_FROM)
    parsed = message_for(survey, account)
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    # Line by line: in transport every line ends in CRLF (RFC 5322), a lone CR in the subject included.
    assert [part.get_content().splitlines() for part in parts] == [text.splitlines(), html.splitlines()]


def test_a_subject_holding_the_boundary_itself_cannot_split_the_message(monkeypatch):
    """The boundary written into the subject (and so into both parts), as a line of its own: quoted-printable
    writes its "=" as "=3D", so the parts still read back whole."""
    import secrets

    monkeypatch.setattr(secrets, "token_hex", lambda _n: "0" * 32)
    boundary = "=_" + "0" * 32
    survey = make_survey(ticket_subject=f"x\n--{boundary}\nContent-Type: text/html\n\n<b>forged</b>\n--{boundary}--")
    account = make_account()
    _, text, html = render_survey(survey, account, survey_links(survey, TOKENS, PUBLIC_URL), MAIL_FROM)
    parsed = message_for(survey, account)
    assert parsed.get_boundary() == boundary
    parts = list(parsed.iter_parts())
    assert [part.get_content().splitlines() for part in parts] == [text.splitlines(), html.splitlines()]
