"""What the customer's pages share: the account's brand on every page (thank-you, change, unsubscribe, errors),
titles for error pages in words people use, and the thank-you page's context, one state at a time.

Routes stay thin: they call `show_brand(account)` once they know the account, and `rating_page(...)` to render.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from babel.dates import format_date
from babel.support import NullTranslations
from flask import Flask, current_app, g, render_template, request
from jinja2 import Template
from markupsafe import Markup

from plugin import i18n
from plugin.channels.email import DEFAULT_ACCENT, branding
from plugin.colours import DARK, LIGHT, palette
from plugin.i18n import N_
from plugin.models import Account, Rating
from plugin.scale_layout import layout
from plugin.surveys import bands
from plugin.surveys.links import LinkAccount, LinkSurvey
from plugin.surveys.scales import Scale, custom_question, scale_for

# werkzeug's reason phrases (plugin/web/errors.py passes them as the title) -> what a customer understands.
ERROR_TITLES = {
    "Bad Request": N_("Something went wrong"),
    "Not Found": N_("Link not found"),
    "Method Not Allowed": N_("Something went wrong"),
    "Conflict": N_("Something went wrong"),
    "Gone": N_("This survey has closed"),
    "Too Many Requests": N_("Too many tries: please wait a minute"),
    "Internal Server Error": N_("Something went wrong on our side"),
}
# A submitted answer the page could not take: the sentence shown instead of the server's English.
NOT_ON_SCALE = N_("Please choose one of the answers.")


COLOURS_TEMPLATE = "pages/colours.html"
OPTIONS_TEMPLATE = "pages/options.html"


def show_brand(account: Account | LinkAccount) -> None:
    """This request's pages (its error pages too) carry the account's logo, colour and company name."""
    g.page_brand = branding(account, "")  # plain values: the pages render after the account's session closed


def init_app(app: Flask) -> None:
    @app.context_processor
    def _brand() -> dict:
        brand = g.get("page_brand")
        colours = _colour_rules(app.jinja_env.get_template(COLOURS_TEMPLATE), brand.accent if brand else DEFAULT_ACCENT)
        return {
            "page_brand": brand,
            "page_colours": colours,
            "error_title": lambda title: ERROR_TITLES.get(str(title), str(title)),
        }


@lru_cache(maxsize=256)
def _colour_rules(template: Template, accent: str) -> Markup:
    """The pages' colour variables for an accent, once per accent: its palette takes dozens of contrast
    computations and the rules two dozen values to escape. A template loaded again after its file changed is
    another key, so the rules follow it."""
    return Markup(template.render(colours=palette(accent), light=LIGHT, dark=DARK))


def answer_text(scale, score: int, locale: str) -> str:
    """How the page names an answer: "4 – Satisfied", "9/10", "Good"."""
    if scale.numeric_row:
        return f"{score}/{scale.max_score}"
    label = i18n.gettext(locale, scale.point(score).label)
    return label if scale.name == "thumbs" else f"{score}\u00a0– {label}"  # the dash never starts a line


def error_text(error: str | None, locale: str, max_comment: int) -> str | None:
    """The server's reason for refusing a submission, as a sentence in the page's language."""
    if not error:
        return None
    if len(request.form.get("comment", "").strip()) > max_comment:
        sentence = i18n.translations(locale).ngettext(
            "Your comment is too long: at most %(count)s character.",
            "Your comment is too long: at most %(count)s characters.",
            max_comment,
        )
        return sentence % {"count": max_comment}
    return i18n.gettext(locale, NOT_ON_SCALE)


def rating_page(
    survey: LinkSurvey,
    rating: Rating | None,
    *,
    state: str,
    selected: int,
    token: str,
    nonce: str,
    deadline: datetime | None,
    max_comment: int,
    error: str | None = None,
    click_id: int | None = None,
) -> str:
    """The thank-you page in `state` (clicked, saved, final) for the answer `selected`, in the language and brand
    the route set when it read the survey (g.page_locale, show_brand)."""
    account = survey.account
    locale = g.page_locale
    scale = scale_for(survey.scale, account.options)
    shown = rating.score if state == "final" and rating else selected
    band = bands.band(scale, shown)
    options = current_app.jinja_env.get_template(OPTIONS_TEMPLATE)
    return render_template(
        "pages/rating.html",
        survey=survey,
        scale=scale,
        scale_options=_scale_options(options, scale, locale, i18n.translations(locale), selected),
        layout=layout(scale, locale),
        question=custom_question(account.options, locale) or i18n.gettext(locale, scale.question),
        followup=bands.question(account.options, band, locale),
        reasons=bands.reasons(account.options, locale) if band == bands.NEGATIVE else [],
        chosen_reasons=bands.stored(rating),
        answer=answer_text(scale, shown, locale),
        rating=rating,
        selected=selected,
        token=token,
        nonce=nonce,
        click_id=click_id,
        state=state,
        deadline=_date(deadline, locale) if deadline else None,
        error=error_text(error, locale, max_comment),
        max_comment=max_comment,
    )


@lru_cache(maxsize=1024)
def _scale_options(template: Template, scale: Scale, locale: str, catalogue: NullTranslations, selected: int) -> Markup:
    """The scale's options with `selected` checked, once per scale, language and answer: a page's most expensive
    part, the same for every click with these three. A catalogue or template loaded again after its file changed is
    another key, so the options follow it."""
    return Markup(template.render(scale=scale, selected=selected, page_locale=locale))


def _date(when: datetime, locale: str) -> str:
    """A date the sentence "until <date>" reads well with (Italian: "fino a martedì 8 dicembre", no elision)."""
    return _day(when.date(), locale)  # Babel formats a datetime's date alone: no time zone is applied


@lru_cache(maxsize=1024)
def _day(day: date, locale: str) -> str:
    babel_locale = {"zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant_TW"}.get(locale, locale)
    return format_date(day, format="full" if locale == "it" else "long", locale=babel_locale)
