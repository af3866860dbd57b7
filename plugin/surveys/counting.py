"""Counting a rating (DESIGN.md, docs/integrity.md): every request is an event; the rating follows the person.

- Until the person confirms, the rating rests on the latest *unmarked* click: a later clean click replaces its
  score, restarts the settle window and, once settled, is written back again.
- A marked click is evidence: it never changes, flags or demotes a rating that a clean click or a confirmation
  produced. A burst re-marks the clicks it is made of, since a burst is only seen from its second click on.
- A confirmation counts at once and is final until the person changes it on the page; an admin's restore cannot
  override it.

Concurrency: the rating row is inserted-or-got and locked (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one
writer) before any decision reads it, and versions are incremented in SQL. Callers run these functions inside a
transaction and may retry it whole on a database error (plugin/web/ratings.py does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, bindparam, insert, select, true, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from plugin import followups
from plugin.db import run_one
from plugin.models import Click, Rating, SignatureCheck, Survey, WriteBack
from plugin.surveys import scanners
from plugin.surveys.links import LinkSurvey
from plugin.surveys.scales import get_scale

PENDING, COUNTED, FLAGGED = "pending", "counted", "flagged"
# A signature-link rating whose ticket the helpdesk has not confirmed (plugin/signature_checks.py): it would count,
# but stays out of every figure, and its write-back waits as "held" until release_held().
UNVERIFIED, HELD = "unverified", "held"
MAX_COMMENT_CHARS = 2000
LINKS_OPEN_DAYS = 30  # an unanswered survey's links expire this long after sending (410)
SIGNALS = ("visible", "interaction")
PAGE_FIELDS = ("webdriver", "headless", "window", "renderer", "focus")  # what the page may tell about its browser
MAX_CLICK_ID = 2**31 - 1
RULES_FIRST, RULES_LATEST = 20, 200  # how many of a survey's first and latest requests the decisions read


_RATING_INSERT_COLUMNS = (
    "survey_id", "account_id", "agent_email", "scale", "score", "comment", "status", "reasons", "version",
    "created_at", "updated_at", "last_click_id", "settles_at",
)  # fmt: skip


# A survey row, or the plain values a rating link's requests read of it (plugin/surveys/links.py): the same attributes.
AnySurvey = Survey | LinkSurvey
T = TypeVar("T")


@dataclass(frozen=True)
class LinkRequest:
    """A request on a survey's links as its event keeps it, and what the scanner rules read of it."""

    method: str
    user_agent: str
    client_ip: str
    now: datetime
    headers: Mapping[str, str] = field(default_factory=dict)


class RatingClosed(Exception):
    """The edit window is over: the rating is final."""


class RatingConfirmed(Exception):
    """The customer confirmed this rating; nobody but them may change it."""


class LinkExpired(Exception):
    """The survey's links have expired unanswered."""


class InvalidAnswer(ValueError):
    """A score outside the survey's scale, or a comment that is too long."""


def edit_deadline(survey: AnySurvey, rating: Rating | None) -> datetime | None:
    """Until when the customer may still change their answer (None: not answered yet)."""
    if rating is None:
        return None
    return rating.created_at + timedelta(days=survey.account.edit_days)


def check_open(survey: AnySurvey, rated: bool, now: datetime) -> None:
    """LinkExpired when the survey went unanswered (`rated`: it has a rating) past its links' lifetime."""
    if not rated and survey.sent_at and now > survey.sent_at + timedelta(days=LINKS_OPEN_DAYS):
        raise LinkExpired("this survey has closed")


def record_visit(session: Session, survey: AnySurvey, score: int, request: LinkRequest, *, kind: str) -> Click:
    """Keep a HEAD, prefetch or rate-limited request as an event; it never touches the rating."""
    return _insert(session, _event_row(survey, kind, score, request))


def record_first_click(
    session: Session, survey: AnySurvey, score: int, request: LinkRequest
) -> tuple[Rating | None, Click]:
    """The first request on a survey's links (its read found none): the click judged on its own and the rating
    inserted in the state it follows to, nothing read. On PostgreSQL one statement (the click's INSERT and the
    rating's reading it, data-modifying CTEs), so that in an autocommit session (Database.statement_session) it is
    one round trip; elsewhere the two INSERTs in the session's transaction.

    (None, click) when another request created the rating meanwhile: then `record_click(..., own_click=click)`, in
    a transaction, judges this click against the history like any later one.
    """
    get_scale(survey.scale).point(score)
    now = request.now
    row = _event_row(survey, "click", score, request, ",".join(scanners.assess(_context(survey, score, request, []))))
    rating = _instance(Rating, {**_new_rating(survey, score, now), **_UNSET_RATING_COLUMNS})
    _follow(session, survey, rating, now, [_instance(Click, {**row, "id": _THIS_CLICK})])  # reads nothing
    values = {column: getattr(rating, column) for column in _RATING_INSERT_COLUMNS}
    if session.get_bind().dialect.name == "postgresql":
        click_id, rating.id = run_one(session, _FIRST_CLICK, {**values, **{f"click_{k}": v for k, v in row.items()}})
    else:
        click_id = session.connection().execute(_CLICK_INSERT, row).scalar_one()
        values["last_click_id"] = click_id
        rating.id = session.connection().execute(_RATING_INSERT_ID, values).scalar()
    # Plain rows, every column set as stored: nothing to read back, and the session never sees them (the caller only
    # reads them; a later change goes through _locked_rating in a transaction, which loads the row).
    click = _instance(Click, {**row, "id": click_id})
    if rating.id is None:
        return None, click
    rating.__dict__["last_click_id"] = click_id
    return rating, click


def record_click(
    session: Session, survey: AnySurvey, score: int, request: LinkRequest, *, own_click: Click | None = None
) -> tuple[Rating, Click]:
    """Keep the click as an event, mark it if it looks automated, and let the rating follow the person: the rating
    is locked (inserted if missing) and the click judged against the survey's requests so far.

    `own_click`: the click `record_first_click` already stored when another request created the rating first; it is
    judged again here, not stored twice.
    """
    get_scale(survey.scale).point(score)
    now = request.now
    rating = _locked_rating(session, survey, None if own_click else score, now)
    history = _history(session, survey)
    own = next((c for c in history if own_click is not None and c.id == own_click.id), None)
    history = [c for c in history if c is not own]
    context = _context(survey, score, request, history)
    reasons = ",".join(scanners.assess(context))
    if own is None:
        click = _insert(session, _event_row(survey, "click", score, request, reasons))
    else:
        click, click.reasons = own, reasons[:500]
    partners = set(scanners.burst_partners(context))
    for partner in history:  # the clicks of a burst are all a machine's, the first one included
        if partner.id in partners:
            partner.reasons = _with(partner.reasons, "several_scores")
    # Under RULES_LATEST requests the history is the survey's every request: _follow needs no query of its own.
    whole = len(history) < RULES_LATEST - 1
    _follow(session, survey, rating, now, [*history, click] if whole else None)
    return rating, click


def _context(survey: AnySurvey, score: int, request: LinkRequest, history: list[Click]) -> scanners.ClickContext:
    return scanners.ClickContext(
        score=score,
        at=request.now,
        user_agent=_text(request.user_agent, 500),
        client_ip=_text(request.client_ip, 64),
        headers=request.headers,
        sent_at=survey.sent_at,
        earlier=[scanners.Seen(c.id, c.kind, c.score, c.at, c.client_ip, c.user_agent) for c in history],
    )


def _history(session: Session, survey: AnySurvey) -> list[Click]:
    """The survey's first and latest requests (what the rules read), oldest first; a flood stays bounded."""
    return list(session.scalars(_HISTORY, {"survey_id": survey.id}))


_HISTORY_IDS = select(Click.id).where(Click.survey_id == bindparam("survey_id"))
_HISTORY = (
    select(Click)
    .where(
        Click.id.in_(
            union(
                select(_HISTORY_IDS.order_by(Click.id).limit(RULES_FIRST).subquery().c.id),
                select(_HISTORY_IDS.order_by(Click.id.desc()).limit(RULES_LATEST).subquery().c.id),
            )
        )
    )
    .order_by(Click.id)
)


def record_signal(
    session: Session,
    survey: AnySurvey,
    click_id: int,
    signal: str,
    now: datetime,
    page: Mapping[str, str] | None = None,
) -> Click | None:
    """A beacon from the page of one click: it was shown ("visible", with what the page saw of its browser) or a
    person interacted with it (a real pointer path, a key, a touch: the page's script decides what is real).

    What the page saw may mark the click (`scanners.page_reasons`); an interaction lifts its weak marks.
    """
    if signal not in SIGNALS:
        raise InvalidAnswer(f"signal must be one of {', '.join(SIGNALS)}")
    if not 0 < click_id <= MAX_CLICK_ID:
        return None
    rating = _locked_rating(session, survey, None, now)
    click = session.get(Click, click_id)
    if click is None or click.survey_id != survey.id or click.kind != "click":
        return None
    if signal == "visible" and click.rendered_at is None:
        click.rendered_at = now
        seen = {name: _text(value, 100) for name, value in (page or {}).items() if name in PAGE_FIELDS}
        click.signals = " ".join(f"{name}={value}" for name, value in sorted(seen.items()))[:300]
        for reason in scanners.page_reasons(seen):
            click.reasons = _with(click.reasons, reason)
        click.reasons = _without(click.reasons, scanners.NEVER_RENDERED)
    if signal == "interaction" and click.interacted_at is None:
        click.interacted_at = now
        click.rendered_at = click.rendered_at or now
        if not click.cleared:
            click.cleared = "person"
    if rating is not None:
        session.flush()
        _follow(session, survey, rating, now)
    session.flush()
    return click


def confirm(session: Session, survey: AnySurvey, score: int, comment: str, request: LinkRequest) -> WriteBack:
    """A person confirmed (or changed) the score and maybe left a comment: it counts now; returns its write-back."""
    get_scale(survey.scale).point(score)
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidAnswer(f"the comment is longer than {MAX_COMMENT_CHARS} characters")
    now = request.now
    rating = _locked_rating(session, survey, score, now)
    if now > edit_deadline(survey, rating):
        raise RatingClosed("the edit window for this rating is over")
    session.add(Click(**_event_row(survey, "confirm", score, request)))
    rating.score, rating.comment = score, comment
    rating.confirmed_at = now
    return _count(session, rating, now)


def settle(session: Session, rating_id: int, now: datetime, require_rendered: bool = True) -> WriteBack | None:
    """Count a pending click whose settle window passed quietly; its write-back, or None if not due.

    A click whose page never reported being shown is marked `never_rendered` instead: a person's browser shows the
    page, a link checker only fetches it.
    """
    rating = session.scalar(
        select(Rating)
        .where(Rating.id == rating_id, Rating.status == PENDING, Rating.settles_at <= now)
        .with_for_update(of=Rating)
        .execution_options(populate_existing=True)
    )
    if rating is None:  # counted, flagged or moved on meanwhile: a confirmation or a new click won
        return None
    click = session.get(Click, rating.last_click_id) if rating.last_click_id else None
    if require_rendered and click is not None and click.rendered_at is None:
        click.reasons = _with(click.reasons, scanners.NEVER_RENDERED)
        rating.status, rating.reasons, rating.settles_at = FLAGGED, click.reasons, None
        session.flush()
        return None
    return _count(session, rating, now)


def restore(session: Session, account_id: int, click_id: int, now: datetime) -> WriteBack | None:
    """An admin vouches for a marked click: its score counts at once. None if there is no such click.

    RatingConfirmed if the customer confirmed their rating: the customer's own answer is theirs to change.
    """
    if not 0 < click_id <= MAX_CLICK_ID:
        return None
    click = session.get(Click, click_id)
    survey = session.get(Survey, click.survey_id) if click else None
    if click is None or click.kind != "click" or survey.account_id != account_id:
        return None
    rating = _locked_rating(session, survey, click.score, now)
    if rating.confirmed_at is not None:
        raise RatingConfirmed("the customer confirmed this rating; only they can change it")
    click.cleared = "admin"
    admin = LinkRequest("ADMIN", "", "", now)
    session.add(Click(**_event_row(survey, "restore", click.score, admin, f"restored click {click.id}")))
    rating.score, rating.last_click_id = click.score, click.id
    return _count(session, rating, now)


def queue_write_back(session: Session, rating: Rating, now: datetime, *, held: bool = False) -> WriteBack:
    """A write-back row for this version of the rating; an older one not yet delivered is superseded.

    A held row (an unverified rating) is never claimed and queues no follow-ups until release_held().
    """
    session.execute(
        update(WriteBack)
        .where(WriteBack.rating_id == rating.id, WriteBack.status.in_(("pending", HELD)))
        .values(status="superseded")
    )
    write_back = WriteBack(
        rating=rating,
        rating_id=rating.id,
        account_id=rating.account_id,
        version=rating.version,
        status=HELD if held else "pending",
        next_attempt_at=now,
        created_at=now,
    )
    session.add(write_back)
    session.flush()
    if not held:
        followups.rating_counted(session, rating, now)
    return write_back


def release_held(session: Session, rating_id: int, now: datetime) -> WriteBack | None:
    """The helpdesk confirmed the ticket: an unverified rating counts now and its held write-back goes out, once."""
    released = session.execute(
        update(Rating)
        .where(Rating.id == rating_id, Rating.status == UNVERIFIED)
        .values(status=COUNTED, counted_at=now, updated_at=now)
    ).rowcount
    if not released:  # not held (still pending or flagged: it counts when it settles), or released already
        return None
    rating = session.get(Rating, rating_id, populate_existing=True)
    write_back = session.scalar(
        select(WriteBack)
        .where(WriteBack.rating_id == rating_id, WriteBack.status == HELD)
        .order_by(WriteBack.version.desc())
    )
    if write_back is None:
        write_back = queue_write_back(session, rating, now)
    else:
        write_back.status, write_back.next_attempt_at = "pending", now
        session.flush()
        followups.rating_counted(session, rating, now)
    return write_back


def rating_of(session: Session, survey: AnySurvey) -> Rating | None:
    return session.scalar(select(Rating).where(Rating.survey_id == survey.id))


def _follow(
    session: Session, survey: AnySurvey, rating: Rating, now: datetime, requests: list[Click] | None = None
) -> None:
    """Put an unconfirmed rating on the survey's latest unmarked click; with none, flag it on its latest click.

    A counted rating is never demoted: only a newer unmarked click moves it. `requests`: the survey's every request,
    when the caller has them all (else they are read).
    """
    if rating.confirmed_at is not None:
        return
    if requests is None:
        clicks = session.scalars(
            select(Click)
            .where(Click.survey_id == survey.id, Click.kind == "click")
            .order_by(Click.at.desc(), Click.id.desc())
            .limit(RULES_LATEST)
        ).all()[::-1]
    else:  # the same RULES_LATEST clicks in the same order as the query above
        clicks = sorted((c for c in requests if c.kind == "click"), key=lambda c: (c.at, c.id))[-RULES_LATEST:]
    if not clicks:
        return
    unmarked = [c for c in clicks if not _marked(c)]
    current = session.get(Click, rating.last_click_id) if rating.last_click_id else None
    at_rest = current is not None and not _marked(current) and rating.status != FLAGGED
    if at_rest:  # only a newer clean click moves a rating at rest
        unmarked = [c for c in unmarked if (c.at, c.id) > (current.at, current.id)]
    if unmarked:
        latest = unmarked[-1]
        if at_rest and rating.status == COUNTED and rating.score == latest.score:
            rating.last_click_id = latest.id  # the same answer again: nothing to count or write back anew
            return
        window = timedelta(minutes=survey.account.settle_minutes)
        rating.score, rating.last_click_id, rating.updated_at = latest.score, latest.id, now
        rating.status, rating.reasons, rating.settles_at = PENDING, "", max(now, latest.at) + window
        return
    if at_rest or rating.status == COUNTED:
        return  # never demoted: its click may have turned out to open a burst, but it was written back already
    latest = clicks[-1]
    rating.score, rating.last_click_id, rating.updated_at = latest.score, latest.id, now
    rating.status, rating.reasons, rating.settles_at = FLAGGED, latest.reasons, None


def _marked(click: Click) -> bool:
    return scanners.is_marked(_reasons(click.reasons), click.cleared)


def _locked_rating(session: Session, survey: AnySurvey, score: int | None, now: datetime) -> Rating | None:
    """The survey's rating, inserted if missing (when `score` is given) and locked for this transaction.

    A row this transaction inserted is its own until commit (a concurrent insert of the same survey waits for it,
    then finds it): as good as `FOR UPDATE`, one statement less.
    """
    if score is not None:
        inserted = session.scalar(
            _RATING_INSERT[session.get_bind().dialect.name == "postgresql"], _new_rating(survey, score, now)
        )
        if inserted is not None:
            return inserted
    return session.scalar(_RATING_LOCK, {"survey_id": survey.id})


def _new_rating(survey: AnySurvey, score: int, now: datetime) -> dict:
    return dict(
        survey_id=survey.id,
        account_id=survey.account_id,
        agent_email=survey.agent_email,
        scale=survey.scale,
        score=score,
        comment="",
        status=FLAGGED,  # decided by the caller in this same transaction
        reasons="",
        version=0,
        created_at=now,
        updated_at=now,
        last_click_id=None,
        settles_at=None,
    )


# Built once (building a statement costs more than running it); executed with their parameters.
_RATING_INSERT = {
    is_postgresql: dialect.insert(Rating)
    .values({column: bindparam(column) for column in _RATING_INSERT_COLUMNS})
    .on_conflict_do_nothing(index_elements=["survey_id"])
    .returning(Rating)
    .execution_options(populate_existing=True)
    for is_postgresql, dialect in ((True, postgresql), (False, sqlite))
}
# SQLite's first click (PostgreSQL's is the one statement _FIRST_CLICK).
_RATING_INSERT_ID = (
    sqlite.insert(Rating)
    .values({column: bindparam(column) for column in _RATING_INSERT_COLUMNS})
    .on_conflict_do_nothing(index_elements=["survey_id"])
    .returning(Rating.id)
)
# What a new rating row holds in the columns the insert leaves out (none has a default).
_UNSET_RATING_COLUMNS = {
    column.key: None for column in Rating.__table__.columns if column.key not in ("id", *_RATING_INSERT_COLUMNS)
}
_RATING_LOCK = (
    select(Rating)
    .where(Rating.survey_id == bindparam("survey_id"))
    .options(lazyload(Rating.survey))  # the caller holds the survey; no join for it
    .with_for_update(of=Rating)
    .execution_options(populate_existing=True)
)


def _count(session: Session, rating: Rating, now: datetime) -> WriteBack:
    held = _unverified(session, rating.survey or session.get(Survey, rating.survey_id))
    rating.status, rating.reasons, rating.settles_at = UNVERIFIED if held else COUNTED, "", None
    rating.updated_at = now
    if not held:
        rating.counted_at = rating.counted_at or now
    session.flush()
    # In SQL, so that two writers can never compute the same next version.
    version = session.scalar(
        update(Rating).where(Rating.id == rating.id).values(version=Rating.version + 1).returning(Rating.version)
    )
    set_committed_value(rating, "version", version)
    return queue_write_back(session, rating, now, held=held)


def _unverified(session: Session, survey: AnySurvey) -> bool:
    """A signature survey whose ticket the helpdesk has not (yet) confirmed names its agent (no check: not either)."""
    if survey.channel != "signature":
        return False
    status = session.scalar(select(SignatureCheck.status).where(SignatureCheck.survey_id == survey.id))
    return status != "verified"


_CLICK_INSERT = insert(Click).returning(Click.id)
_THIS_CLICK = 0  # the first click's id as _follow sees it before the click is stored: the statement puts the real one


def _first_click_statement() -> Select:
    """PostgreSQL: the click's INSERT (parameters click_<column>) and the rating's INSERT ... SELECT reading it, as
    one statement. Its row: the click's id and the rating's (NULL when another request created the rating)."""
    columns = Click.__table__.c
    names = [column.key for column in columns if column.key != "id"]
    click = (
        postgresql.insert(Click.__table__)
        .values({name: bindparam(f"click_{name}", type_=columns[name].type) for name in names})
        .returning(columns.id)
        .cte("click")
    )
    ratings = Rating.__table__.c
    values = select(*(
        click.c.id if name == "last_click_id" else bindparam(name, type_=ratings[name].type)
        for name in _RATING_INSERT_COLUMNS
    )).select_from(click)  # fmt: skip
    rating = (
        postgresql.insert(Rating.__table__)
        .from_select(list(_RATING_INSERT_COLUMNS), values)
        .on_conflict_do_nothing(index_elements=["survey_id"])
        .returning(ratings.id)
        .cte("rating")
    )
    return select(click.c.id, rating.c.id.label("rating_id")).select_from(click.outerjoin(rating, true()))


_FIRST_CLICK = _first_click_statement()


def _insert(session: Session, row: dict) -> Click:
    """Insert a new event row; the event as stored. An event never changes in the transaction that records it, so it
    skips the unit of work (whose flush costs about three times the INSERT itself)."""
    click = _instance(Click, {**row, "id": session.connection().execute(_CLICK_INSERT, row).scalar_one()})
    make_transient_to_detached(click)  # every column is set: the row as stored, nothing to read back
    return click


def _instance(model: type[T], values: dict) -> T:
    """A `model` instance holding `values` (every column), built the way the ORM builds a row it loaded: for rows
    this module writes with Core, whose constructor's change events (about ten calls per column) would only be
    reset once the row is stored."""
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)  # the instance's state (SQLAlchemy keeps loaded values in __dict__)
    return instance


def _event_row(survey: AnySurvey, kind: str, score: int, request: LinkRequest, reasons: str = "") -> dict:
    """An event's columns (all but its id)."""
    return dict(
        survey_id=survey.id,
        kind=kind,
        score=score,
        method=request.method,
        user_agent=_text(request.user_agent, 500),
        client_ip=_text(request.client_ip, 64),
        reasons=reasons[:500],
        seconds_since_sent=(request.now - survey.sent_at).total_seconds() if survey.sent_at else None,
        rendered_at=None,
        interacted_at=None,
        signals="",
        cleared="",
        at=request.now,
    )


def _text(value: object, limit: int) -> str:
    """Text as stored: without NUL (PostgreSQL refuses it) and cut to its column."""
    return str(value).replace("\x00", "")[:limit]


def _reasons(text: str) -> list[str]:
    return [r for r in (text or "").split(",") if r]


def _with(text: str, reason: str) -> str:
    reasons = _reasons(text)
    return ",".join(reasons if reason in reasons else [*reasons, reason])


def _without(text: str, reason: str) -> str:
    return ",".join(r for r in _reasons(text) if r != reason)
