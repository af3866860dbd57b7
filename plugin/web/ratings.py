"""GET/POST /r/<token>: a click from the email is recorded; the page confirms, changes or adds a comment."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from plugin.models import Survey
from plugin.services import services
from plugin.surveys import counting
from plugin.surveys.scales import get_scale
from plugin.tokens import InvalidToken, RatingLink

bp = Blueprint("ratings", __name__)

PREFETCH_HEADERS = ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")


def _link(token: str) -> RatingLink:
    try:
        return services().tokens.read_rating(token)
    except InvalidToken:
        abort(404, "This rating link is not valid. Please use the link from your email as it is.")


def _survey(session, link: RatingLink) -> Survey:
    survey = session.get(Survey, link.survey_id)
    if survey is None or survey.status != "sent" or link.score not in get_scale(survey.scale).scores:
        abort(404, "This survey does not exist or is no longer open.")
    return survey


def _is_prefetch() -> bool:
    return any("prefetch" in request.headers.get(h, "").lower() for h in PREFETCH_HEADERS)


@bp.route("/r/<token>", methods=["GET", "HEAD"])
def click(token: str):
    s = services()
    link = _link(token)
    if request.method == "HEAD":
        return "", 200  # HEAD never records anything (link checkers, scanners)
    with s.db.session() as session:
        survey = _survey(session, link)
        if _is_prefetch():
            rating = counting.rating_of(session, survey)
        else:
            rating = counting.record_click(
                session,
                survey,
                link.score,
                method="GET",
                user_agent=request.user_agent.string,
                client_ip=request.remote_addr or "",
                now=services().clock(),
            )
        return _render(survey, rating, selected=link.score, token=token)


@bp.post("/r/<token>")
def submit(token: str):
    s = services()
    link = _link(token)
    with s.db.session() as session:
        survey = _survey(session, link)
        try:
            s.tokens.check_form_nonce(request.form.get("nonce", ""), survey.id)
        except InvalidToken:
            abort(400, "This form has expired. Please open the link from your email again.")
        try:
            score = int(request.form.get("score", link.score))
            write_back = counting.confirm(
                session,
                survey,
                score,
                request.form.get("comment", ""),
                user_agent=request.user_agent.string,
                client_ip=request.remote_addr or "",
                now=services().clock(),
            )
        except counting.RatingClosed:
            rating = counting.rating_of(session, survey)
            return _render(survey, rating, selected=rating.score, token=token, final=True), 409
        except ValueError as exc:  # a score off the scale, a comment too long
            rating = counting.rating_of(session, survey)
            return _render(survey, rating, selected=link.score, token=token, error=str(exc)), 400
        page = _render(survey, write_back.rating, selected=write_back.rating.score, token=token, saved=True)
    s.jobs.enqueue("deliver_write_back", write_back.id)
    return page


def _render(
    survey: Survey,
    rating,
    *,
    selected: int,
    token: str,
    saved: bool = False,
    final: bool = False,
    error: str | None = None,
) -> str:
    now = services().clock()
    deadline = counting.edit_deadline(survey, rating)
    return render_template(
        "pages/rating.html",
        survey=survey,
        scale=get_scale(survey.scale),
        rating=rating,
        selected=selected,
        token=token,
        nonce=services().tokens.form_nonce(survey.id),
        saved=saved,
        final=final or (deadline is not None and now > deadline),
        error=error,
        max_comment=counting.MAX_COMMENT_CHARS,
    )
