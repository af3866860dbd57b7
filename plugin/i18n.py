"""Languages: which catalogue a survey speaks (from the event's locale), and the gettext catalogues themselves.

Catalogues live in translations/<locale>/LC_MESSAGES/messages.po (Babel; `make extract update compile`). The
compiled .mo is used when it is at least as new as its .po; otherwise the .po is compiled in memory, so a
translator's edit shows up without a build step and a checkout without compiled files still speaks every language.
Each process keeps its catalogues and looks at their files again at most every RECHECK_SECONDS (not on every
string: a page translates dozens), so an edited .po or a new .mo shows within seconds, restart or not.
"""

from __future__ import annotations

import io
import re
import time
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markupsafe import Markup

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
DEFAULT_LOCALE = "en"
# Catalogue names, in the order the docs list them. Each has translations/<name>/LC_MESSAGES/messages.po.
LOCALES = ("en", "pl", "el", "it", "zh_Hant", "zh_Hans", "nb", "de", "fr", "es", "pt", "ar")
RTL_LOCALES = frozenset({"ar"})
RECHECK_SECONDS = 2.0

# Chinese regions written in Traditional characters; every other Chinese tag gets Simplified.
_TRADITIONAL = frozenset({"hant", "tw", "hk", "mo"})
_ALIASES = {"no": "nb", "nn": "nb", "nb": "nb"}  # Norwegian of any flavour reads Bokmal
_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "mark for extraction, translate later")
    """Mark a string for the catalogue without translating it here."""
    return message


# Error page titles and werkzeug's own 404 text, so plugin/web/errors.py's pages speak the visitor's language too.
ERROR_TEXTS = (
    N_("Bad Request"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Conflict"),
    N_("Gone"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_(
        "The requested URL was not found on the server. If you entered the URL manually please check your spelling"
        " and try again."
    ),
)


def match(tag: str | None) -> str | None:
    """The supported catalogue for a language tag (`pt-BR` -> pt, `zh-TW` -> zh_Hant, `no` -> nb), or None."""
    tag = (tag or "").strip()
    if not _TAG.fullmatch(tag):
        return None
    parts = tag.replace("_", "-").lower().split("-")
    language = parts[0]
    if language == "zh":
        return "zh_Hant" if _TRADITIONAL & set(parts[1:]) else "zh_Hans"
    language = _ALIASES.get(language, language)
    return language if language in LOCALES else None


def normalise(tag: str | None, account_default: str | None = None) -> str:
    """The catalogue for an event's locale, else the account's default, else English."""
    return match(tag) or match(account_default) or DEFAULT_LOCALE


def negotiate(accept_language: str | None, fallback: str | None = None) -> str:
    """The best supported catalogue for an Accept-Language header (q-values honoured), else the fallback."""
    choices = []
    for position, item in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:
            choices.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(choices):
        found = match(tag)
        if found:
            return found
    return normalise(fallback)


def direction(locale: str) -> str:
    """`rtl` for right-to-left scripts, else `ltr` (the pages' and emails' dir attribute)."""
    return "rtl" if locale in RTL_LOCALES else "ltr"


def html_lang(locale: str) -> str:
    """The BCP 47 tag for the lang attribute: zh_Hant -> zh-Hant."""
    return locale.replace("_", "-")


# (folder, locale) -> (when its files were last looked at, the catalogue then): one entry per catalogue.
_checked: dict[tuple[Path, str], tuple[float, NullTranslations]] = {}


def translations(locale: str) -> NullTranslations:
    """The catalogue for a supported locale (English for anything else); cached per locale and file version, the
    files looked at again at most every RECHECK_SECONDS."""
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    key, now = (TRANSLATIONS_DIR, locale), time.monotonic()
    checked = _checked.get(key)
    if checked is not None and now - checked[0] < RECHECK_SECONDS:
        return checked[1]
    folder = TRANSLATIONS_DIR / locale / "LC_MESSAGES"
    catalogue = _load(folder, locale, _mtime(folder / "messages.po"), _mtime(folder / "messages.mo"))
    _checked[key] = (now, catalogue)
    return catalogue


def gettext(locale: str, message: str) -> str:
    """`message` in `locale` (itself when the catalogue has no translation)."""
    return translations(locale).gettext(message)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


@lru_cache(maxsize=64)
def _load(folder: Path, locale: str, po_mtime: float, mo_mtime: float) -> NullTranslations:
    if mo_mtime and mo_mtime >= po_mtime:
        with open(folder / "messages.mo", "rb") as handle:
            return Translations(handle)
    if not po_mtime:
        return NullTranslations()
    with open(folder / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def init_app(app) -> None:
    """Pages speak the survey's language (flask.g.page_locale, set by the route) or the browser's.

    Templates call `_("literal")` for catalogue strings and `translate(value)` for strings known only at run time
    (scale labels, error messages); `translate` returns plain text, so the page escapes it as usual.
    """
    from flask import g, has_request_context, request
    from jinja2 import pass_context

    def _locale() -> str:
        if not has_request_context():
            return DEFAULT_LOCALE
        return g.get("page_locale") or negotiate(request.headers.get("Accept-Language"))

    @pass_context
    def _gettext(context, message: str, **variables) -> str:
        """Jinja's newstyle gettext: the text in the page's language, formatted with `variables` (escaped)."""
        catalogue = translations(context.get("page_locale") or DEFAULT_LOCALE)
        if not variables:
            return _literal(catalogue, message, context.eval_ctx.autoescape)
        return _format_string(catalogue, message, context.eval_ctx.autoescape) % variables

    @pass_context
    def _ngettext(context, singular: str, plural: str, n: int) -> str:
        return translations(context.get("page_locale") or DEFAULT_LOCALE).ngettext(singular, plural, n)

    @pass_context
    def _translate(context, message: str) -> str:
        return str(gettext(context.get("page_locale") or DEFAULT_LOCALE, str(message)))

    app.jinja_env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    # Then `_` and `gettext` go straight to _gettext, which formats as Jinja's newstyle wrapper would: the wrapper
    # costs three context calls and a Markup format per string, and a rating page translates a dozen.
    app.jinja_env.globals.update(_=_gettext, gettext=_gettext, translate=_translate)

    @app.context_processor
    def _page_language() -> dict:
        locale = _locale()
        return {"page_locale": locale, "page_lang": html_lang(locale), "page_direction": direction(locale)}


@lru_cache(maxsize=4096)
def _format_string(catalogue: NullTranslations, message: str, autoescape: bool) -> str:
    """A template's `_(message, **variables)` before formatting, per catalogue: a catalogue loaded again after its
    file changed is another key, so the text follows it."""
    text = catalogue.gettext(message)
    return Markup(text) if autoescape else text


@lru_cache(maxsize=4096)
def _literal(catalogue: NullTranslations, message: str, autoescape: bool) -> str:
    """A template's `_(message)` as shown, per catalogue. Formatted with no variables like Jinja's newstyle gettext
    (so "%%" reads "%")."""
    return _format_string(catalogue, message, autoescape) % {}
