"""/r/<token>: every request on a rating link is kept; the page confirms, changes or adds a comment.

GET records a click (scanner-aware, plugin/surveys/scanners.py) and shows the thank-you page; HEAD and prefetches
are kept as events but never touch the rating; POST confirms; POST /r/<token>/signal takes the page's beacons.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, request
from sqlalchemy import select

from plugin import i18n
from plugin.i18n import N_
from plugin.models import Rating, Survey
from plugin.services import services
from plugin.surveys import bands, counting
from plugin.surveys.scales import get_scale
from plugin.tokens import InvalidToken, RatingLink
from plugin.web.pages import rating_page, show_brand

bp = Blueprint("ratings", __name__)

PREFETCH_HEADERS = ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")


def _link(token: str) -> RatingLink:
    try:
        return services().tokens.read_rating(token)
    except InvalidToken:
        abort(404, N_("This rating link is not valid. Please use the link from your email as it is."))


def _survey(session, link: RatingLink) -> tuple[Survey, Rating | None]:
    """The survey a link belongs to and its rating so far; 404 or 410 pages when it cannot be answered."""
    # One query for the survey (its account joined) and its rating so far.
    survey, rating = session.execute(
        select(Survey, Rating).outerjoin(Rating, Rating.survey_id == Survey.id).where(Survey.id == link.survey_id)
    ).first() or (None, None)
    if survey is None or survey.status != "sent" or link.score not in get_scale(survey.scale).scores:
        abort(404, N_("This survey does not exist or is no longer open."))
    g.page_locale = i18n.normalise(survey.locale, survey.account.locale)  # this page and its error pages
    show_brand(survey.account)
    try:
        counting.check_open(survey, rating, services().clock())
    except counting.LinkExpired:
        abort(410, N_("Thank you for your time. This survey no longer takes answers."))
    return survey, rating


def _client() -> dict:
    return {"user_agent": request.user_agent.string, "client_ip": request.remote_addr or ""}


def _is_prefetch() -> bool:
    return any("prefetch" in request.headers.get(h, "").lower() for h in PREFETCH_HEADERS)


@bp.route("/r/<token>", methods=["GET", "HEAD"])
def click(token: str):
    s = services()
    link = _link(token)
    with s.db.session() as session:
        survey, rating = _survey(session, link)
        if request.method == "HEAD" or _is_prefetch():
            kind = "head" if request.method == "HEAD" else "prefetch"
            counting.record_visit(session, survey, link.score, kind=kind, now=s.clock(), **_client())
            return _render(survey, rating, selected=link.score, token=token)
        rating, click = counting.record_click(
            session, survey, link.score, now=s.clock(), headers=dict(request.headers), rating=rating, **_client()
        )
        return _render(survey, rating, selected=link.score, token=token, click_id=click.id)


@bp.post("/r/<token>/signal")
def signal(token: str):
    s = services()
    link = _link(token)
    with s.db.session() as session:
        survey, _ = _survey(session, link)
        _check_nonce(survey)
        try:
            click_id = int(request.form.get("click", ""))
            recorded = counting.record_signal(session, survey, click_id, request.form.get("signal", ""), s.clock())
        except ValueError as exc:
            abort(400, str(exc) if str(exc).startswith("signal") else "click must be a click id")
    if recorded is None:
        abort(404, "no such click on this survey")
    return "", 204


@bp.post("/r/<token>")
def submit(token: str):
    s = services()
    link = _link(token)
    with s.db.session() as session:
        survey, _ = _survey(session, link)
        _check_nonce(survey)
        try:
            score = int(request.form.get("score", link.score))
            write_back = counting.confirm(
                session, survey, score, request.form.get("comment", ""), now=s.clock(), **_client()
            )
        except counting.RatingClosed:
            rating = counting.rating_of(session, survey)
            return _render(survey, rating, selected=rating.score, token=token, final=True), 409
        except ValueError as exc:  # a score off the scale, a comment too long
            rating = counting.rating_of(session, survey)
            return _render(survey, rating, selected=link.score, token=token, error=str(exc)), 400
        write_back.rating.reason_tags = bands.picked(survey, score, request.form.getlist("reason"))
        page = _render(survey, write_back.rating, selected=write_back.rating.score, token=token, saved=True)
    s.jobs.enqueue("deliver_write_back", write_back.id)
    return page


def _check_nonce(survey: Survey) -> None:
    try:
        services().tokens.check_form_nonce(request.form.get("nonce", ""), survey.id)
    except InvalidToken:
        abort(400, N_("This form has expired. Please open the link from your email again."))


def _render(
    survey: Survey,
    rating,
    *,
    selected: int,
    token: str,
    saved: bool = False,
    final: bool = False,
    error: str | None = None,
    click_id: int | None = None,
) -> str:
    deadline = counting.edit_deadline(survey, rating)
    final = final or (deadline is not None and services().clock() > deadline)
    return rating_page(
        survey,
        rating,
        state="final" if final else ("saved" if saved else "clicked"),
        selected=selected,
        token=token,
        nonce=services().tokens.form_nonce(survey.id),
        deadline=deadline,
        max_comment=counting.MAX_COMMENT_CHARS,
        error=error,
        click_id=click_id,
    )
