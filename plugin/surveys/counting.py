"""Counting a rating (DESIGN.md): clicks are events; a rating counts when confirmed or when its click settles."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin import followups
from plugin.models import Click, Rating, SignatureCheck, Survey, WriteBack
from plugin.surveys import scanners
from plugin.surveys.scales import get_scale

PENDING, COUNTED, FLAGGED = "pending", "counted", "flagged"
# A signature-link rating whose ticket the helpdesk has not confirmed (plugin/signature_checks.py): it would count,
# but stays out of every figure, and its write-back waits as "held" until release_held().
UNVERIFIED, HELD = "unverified", "held"
MAX_COMMENT_CHARS = 2000
LINKS_OPEN_DAYS = 30  # an unanswered survey's links expire this long after sending (410)
SIGNALS = ("visible", "interaction")
NOT_LOADED = object()  # a caller that already read the survey's rating (maybe None) passes it instead


class RatingClosed(Exception):
    """The edit window is over: the rating is final."""


class LinkExpired(Exception):
    """The survey's links have expired unanswered."""


class InvalidAnswer(ValueError):
    """A score outside the survey's scale, or a comment that is too long."""


def edit_deadline(survey: Survey, rating: Rating | None) -> datetime | None:
    """Until when the customer may still change their answer (None: not answered yet)."""
    if rating is None:
        return None
    return rating.created_at + timedelta(days=survey.account.edit_days)


def check_open(survey: Survey, rating: Rating | None, now: datetime) -> None:
    """LinkExpired when the survey went unanswered past its links' lifetime."""
    if rating is None and survey.sent_at and now > survey.sent_at + timedelta(days=LINKS_OPEN_DAYS):
        raise LinkExpired("this survey has closed")


def record_visit(
    session: Session, survey: Survey, score: int, *, kind: str, user_agent: str, client_ip: str, now: datetime
) -> Click:
    """Keep a HEAD or prefetch request as an event; it never touches the rating."""
    click = Click(
        survey_id=survey.id,
        kind=kind,
        score=score,
        method="HEAD" if kind == "head" else "GET",
        user_agent=user_agent[:500],
        client_ip=client_ip[:64],
        seconds_since_sent=_since_sent(survey, now),
        at=now,
    )
    session.add(click)
    session.flush()
    return click


def record_click(
    session: Session,
    survey: Survey,
    score: int,
    *,
    user_agent: str,
    client_ip: str,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    rating: Rating | None | object = NOT_LOADED,
) -> tuple[Rating, Click]:
    """Keep the click as an event and let it start, re-start or flag the survey's pending rating.

    `rating` is the survey's rating if the caller already loaded it (it saves a query).
    """
    get_scale(survey.scale).point(score)
    earlier = session.execute(select(Click.score, Click.at).where(Click.survey_id == survey.id, Click.kind == "click"))
    reasons = scanners.assess(
        scanners.ClickContext(
            score=score,
            at=now,
            user_agent=user_agent,
            client_ip=client_ip,
            headers=headers or {},
            sent_at=survey.sent_at,
            earlier=[tuple(row) for row in earlier],
        )
    )
    click = Click(
        survey_id=survey.id,
        kind="click",
        score=score,
        method="GET",
        user_agent=user_agent[:500],
        client_ip=client_ip[:64],
        reasons=",".join(reasons),
        seconds_since_sent=_since_sent(survey, now),
        at=now,
    )
    session.add(click)
    rating = rating_of(session, survey) if rating is NOT_LOADED else rating
    if rating is None:
        rating = _new_rating(survey, score, now)
        session.add(rating)
    elif rating.confirmed_at is not None or rating.status in (COUNTED, UNVERIFIED):
        session.flush()
        return rating, click  # a counted answer changes only through the page's confirm button
    session.flush()  # the click and a new rating in one flush; the click's id is known from here
    rating.score, rating.updated_at, rating.last_click_id = score, now, click.id
    if reasons:
        rating.status, rating.reasons, rating.settles_at = FLAGGED, ",".join(reasons), None
    else:
        window = timedelta(minutes=survey.account.settle_minutes)
        rating.status, rating.reasons, rating.settles_at = PENDING, "", now + window
    session.flush()
    return rating, click


def record_signal(session: Session, survey: Survey, click_id: int, signal: str, now: datetime) -> Click | None:
    """A beacon from the page of one click: it was rendered ("visible") or a person interacted with it.

    An interaction lifts a timing-only mark from the click the rating rests on; it lifts nothing else, because
    scanners that run JavaScript exist.
    """
    if signal not in SIGNALS:
        raise InvalidAnswer(f"signal must be one of {', '.join(SIGNALS)}")
    click = session.get(Click, click_id)
    if click is None or click.survey_id != survey.id or click.kind != "click":
        return None
    if signal == "visible" and click.rendered_at is None:
        click.rendered_at = now
    if signal == "interaction" and click.interacted_at is None:
        click.interacted_at = now
        click.rendered_at = click.rendered_at or now
        rating = rating_of(session, survey)
        reasons = set(click.reasons.split(",")) - {""}
        if (
            rating is not None
            and rating.last_click_id == click.id
            and rating.status == FLAGGED
            and rating.confirmed_at is None
            and reasons <= scanners.TIMING_ONLY
        ):
            window = timedelta(minutes=survey.account.settle_minutes)
            rating.status, rating.reasons, rating.settles_at = PENDING, "", max(click.at + window, now)
    session.flush()
    return click


def confirm(
    session: Session, survey: Survey, score: int, comment: str, *, user_agent: str, client_ip: str, now: datetime
) -> WriteBack:
    """A person confirmed (or changed) the score and maybe left a comment: it counts now; returns its write-back."""
    get_scale(survey.scale).point(score)
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidAnswer(f"the comment is longer than {MAX_COMMENT_CHARS} characters")
    rating = rating_of(session, survey)
    if rating is None:
        rating = _new_rating(survey, score, now)
        session.add(rating)
    elif now > edit_deadline(survey, rating):
        raise RatingClosed("the edit window for this rating is over")
    session.add(
        Click(
            survey_id=survey.id,
            kind="confirm",
            score=score,
            method="POST",
            user_agent=user_agent[:500],
            client_ip=client_ip[:64],
            seconds_since_sent=_since_sent(survey, now),
            at=now,
        )
    )
    rating.score, rating.comment = score, comment
    rating.confirmed_at = now
    return _count(session, rating, now)


def settle(session: Session, rating_id: int, now: datetime, require_rendered: bool = True) -> WriteBack | None:
    """Count a pending click whose settle window passed quietly; its write-back, or None if not due.

    A click whose page never reported being visible is marked `never_rendered` instead: a person's browser shows
    the page, a link checker only fetches it.
    """
    rating = session.scalar(
        select(Rating).where(Rating.id == rating_id, Rating.status == PENDING, Rating.settles_at <= now)
    )
    if rating is None:
        return None
    click = session.get(Click, rating.last_click_id) if rating.last_click_id else None
    due = (Rating.id == rating_id, Rating.status == PENDING, Rating.settles_at <= now)
    if require_rendered and click is not None and click.rendered_at is None:
        session.execute(
            update(Rating).where(*due).values(status=FLAGGED, settles_at=None, reasons=scanners.NEVER_RENDERED)
        )
        return None
    # Conditional update: a confirmation or a new click that raced in wins over the settle.
    if not session.execute(update(Rating).where(*due).values(settles_at=None)).rowcount:
        return None
    session.refresh(rating)
    return _count(session, rating, now)


def restore(session: Session, account_id: int, click_id: int, now: datetime) -> WriteBack | None:
    """An admin vouches for a marked click: its score counts as if the person had confirmed it."""
    click = session.get(Click, click_id)
    survey = session.get(Survey, click.survey_id) if click else None
    if click is None or click.kind != "click" or survey.account_id != account_id:
        return None
    rating = rating_of(session, survey) or _new_rating(survey, click.score, now)
    session.add(rating)
    session.add(
        Click(
            survey_id=survey.id,
            kind="restore",
            score=click.score,
            method="ADMIN",
            at=now,
            reasons=f"restored click {click.id}",
        )
    )
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


def rating_of(session: Session, survey: Survey) -> Rating | None:
    return session.scalar(select(Rating).where(Rating.survey_id == survey.id))


def _count(session: Session, rating: Rating, now: datetime) -> WriteBack:
    held = _unverified(session, rating.survey or session.get(Survey, rating.survey_id))
    rating.status, rating.reasons, rating.settles_at = UNVERIFIED if held else COUNTED, "", None
    rating.updated_at = now
    if not held:
        rating.counted_at = rating.counted_at or now
    rating.version += 1
    session.flush()
    return queue_write_back(session, rating, now, held=held)


def _unverified(session: Session, survey: Survey) -> bool:
    """A signature survey whose ticket the helpdesk has not (yet) confirmed names its agent (no check: not either)."""
    if survey.channel != "signature":
        return False
    status = session.scalar(select(SignatureCheck.status).where(SignatureCheck.survey_id == survey.id))
    return status != "verified"


def _new_rating(survey: Survey, score: int, now: datetime) -> Rating:
    return Rating(
        survey_id=survey.id,
        account_id=survey.account_id,
        agent_email=survey.agent_email,
        scale=survey.scale,
        score=score,
        status=PENDING,
        created_at=now,
        updated_at=now,
        version=0,
    )


def _since_sent(survey: Survey, now: datetime) -> float | None:
    return (now - survey.sent_at).total_seconds() if survey.sent_at else None
