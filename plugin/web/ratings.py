"""/r/<token>: every request on a rating link is kept; the page confirms, changes or adds a comment.

GET records a click (scanner-aware, plugin/surveys/scanners.py) and shows the thank-you page; HEAD and prefetches
are kept as events but never touch the rating; POST confirms; POST /r/<token>/signal takes the page's beacons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from flask import Blueprint, abort, g, request
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from plugin import i18n
from plugin.i18n import N_
from plugin.models import Click, Rating, Survey, WriteBack
from plugin.services import services
from plugin.surveys import bands, counting, links
from plugin.surveys.links import LinkSurvey
from plugin.surveys.scales import get_scale
from plugin.tokens import InvalidToken, RatingLink
from plugin.web.pages import rating_page, show_brand

bp = Blueprint("ratings", __name__)
log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 4

PREFETCH_HEADERS = ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")


def _link(token: str) -> RatingLink:
    try:
        return services().tokens.read_rating(token)
    except InvalidToken:
        abort(404, N_("This rating link is not valid. Please use the link from your email as it is."))


def _survey(session: Session, link: RatingLink) -> links.LinkRead:
    """The survey a link belongs to (with whether it has a rating and whether any request came on its links
    before); 404 or 410 pages when it cannot be answered."""
    read = links.read(session, link.survey_id)
    survey = read.survey if read else None
    if survey is None or survey.status != "sent" or link.score not in get_scale(survey.scale).scores:
        abort(404, N_("This survey does not exist or is no longer open."))
    g.page_locale = i18n.normalise(survey.locale, survey.account.locale)  # this page and its error pages
    show_brand(survey.account)
    try:
        counting.check_open(survey, read.rated, services().clock())
    except counting.LinkExpired:
        abort(410, N_("Thank you for your time. This survey no longer takes answers."))
    return read


def _is_prefetch(headers: Mapping[str, str]) -> bool:
    return any("prefetch" in headers.get(h, "").lower() for h in PREFETCH_HEADERS)


@bp.route("/r/<token>", methods=["GET", "HEAD"])
def click(token: str):
    link = _link(token)
    # Read once, as a plain dict (names as werkzeug spells them: "Sec-Purpose"): the prefetch check and the
    # scanner rules look at them.
    headers = dict(request.headers)
    if request.method == "HEAD" or _is_prefetch(headers):
        kind = "head" if request.method == "HEAD" else "prefetch"

        def visit(session: Session) -> tuple[LinkSurvey, Rating | None]:
            read = _survey(session, link)
            counting.record_visit(session, read.survey, link.score, _request(), kind=kind)
            return read.survey, counting.rating_of(session, read.survey) if read.rated else None

        survey, rating = in_transaction(visit)
        return _render(survey, rating, selected=link.score, token=token)

    def first(session: Session) -> tuple[LinkSurvey, Rating | None, Click | None]:
        # On PostgreSQL each statement its own transaction: the read, and for a survey's first request the click
        # with its rating in one statement (two round trips in all).
        read = _survey(session, link)
        if read.requested_before:
            return read.survey, None, None
        return read.survey, *counting.record_first_click(session, read.survey, link.score, _request(headers))

    survey, rating, click = in_transaction(first, statements=True)
    if rating is None:  # a later request, or a first one that another request overtook: judged against the history
        rating, click = in_transaction(
            lambda session: counting.record_click(session, survey, link.score, _request(headers), own_click=click)
        )
    return _render(survey, rating, selected=link.score, token=token, click_id=click.id)


@bp.post("/r/<token>/signal")
def signal(token: str):
    s = services()
    link = _link(token)
    with s.db.session() as session:
        survey = _survey(session, link).survey
    _check_nonce(survey)
    click_id = request.form.get("click", "")
    if not (click_id.isascii() and click_id.isdigit() and len(click_id) <= 10):
        abort(400, "click must be a click id")
    page = {name: request.form.get(name, "") for name in counting.PAGE_FIELDS if name in request.form}
    try:
        recorded = in_transaction(
            lambda session: counting.record_signal(
                session, survey, int(click_id), request.form.get("signal", ""), s.clock(), page
            )
        )
    except counting.InvalidAnswer as exc:
        abort(400, str(exc))
    if recorded is None:
        abort(404, "no such click on this survey")
    return "", 204


@bp.post("/r/<token>")
def submit(token: str):
    s = services()
    link = _link(token)
    with s.db.session() as session:
        survey = _survey(session, link).survey
    _check_nonce(survey)
    try:
        score = int(request.form.get("score", link.score))
    except ValueError:
        score = -1  # off every scale: answered as such below
    comment, reasons = request.form.get("comment", ""), request.form.getlist("reason")

    def confirm(session: Session) -> WriteBack:
        write_back = counting.confirm(session, survey, score, comment, _request())
        write_back.rating.reason_tags = bands.picked(survey, score, reasons)
        return write_back

    try:
        write_back = in_transaction(confirm)
    except counting.RatingClosed:
        rating = _current_rating(survey)
        return _render(survey, rating, selected=rating.score, token=token, final=True), 409
    except ValueError as exc:  # a score off the scale, a comment too long
        return _render(survey, _current_rating(survey), selected=link.score, token=token, error=str(exc)), 400
    page = _render(survey, write_back.rating, selected=write_back.rating.score, token=token, saved=True)
    s.jobs.enqueue("deliver_write_back", write_back.id)
    return page


def in_transaction(work: Callable[[Session], T], statements: bool = False) -> T:
    """Run `work` in a transaction of its own, again on a database hiccup (a dropped connection, a deadlock, a
    serialisation failure): a click is an event and must be kept. The last failure is raised.

    `statements`: for work whose writes are one statement, each statement its own transaction on PostgreSQL
    (Database.statement_session)."""
    db = services().db
    for attempt in range(ATTEMPTS):
        try:
            with db.statement_session() if statements else db.session() as session:
                return work(session)
        except DBAPIError as exc:
            if attempt == ATTEMPTS - 1 or not _transient(exc):
                raise
            log.warning("rating link transaction retried after %s", type(exc.orig).__name__)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def _transient(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, (OperationalError, IntegrityError))


def record_limited(token: str) -> None:
    """Keep a rate-limited request on a rating link as an event (plugin/web/limits.py answers it 429)."""
    try:
        link = services().tokens.read_rating(token)
    except InvalidToken:
        return
    with services().db.session() as session:
        survey = session.get(Survey, link.survey_id)
    if survey is None:
        return
    in_transaction(lambda session: counting.record_visit(session, survey, link.score, _request(), kind="limited"))


def _current_rating(survey: LinkSurvey) -> Rating | None:
    with services().db.session() as session:
        return counting.rating_of(session, survey)


def _request(headers: Mapping[str, str] | None = None) -> counting.LinkRequest:
    """This request as its event keeps it; `headers` for the scanner rules of a click."""
    return counting.LinkRequest(
        request.method, request.user_agent.string, request.remote_addr or "", services().clock(), headers or {}
    )


def _check_nonce(survey: LinkSurvey) -> None:
    try:
        services().tokens.check_form_nonce(request.form.get("nonce", ""), survey.id)
    except InvalidToken:
        abort(400, N_("This form has expired. Please open the link from your email again."))


def _render(
    survey: LinkSurvey,
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
