"""Counting a rating (DESIGN.md): clicks are events; a rating counts when confirmed or when its click settles."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin import followups
from plugin.models import Click, Rating, Survey, WriteBack
from plugin.surveys import scanners
from plugin.surveys.scales import get_scale

PENDING, COUNTED, FLAGGED = "pending", "counted", "flagged"
MAX_COMMENT_CHARS = 2000


class RatingClosed(Exception):
    """The edit window is over: the rating is final."""


class InvalidAnswer(ValueError):
    """A score outside the survey's scale, or a comment that is too long."""


def edit_deadline(survey: Survey, rating: Rating | None) -> datetime | None:
    """Until when the customer may still change their answer (None: not answered yet)."""
    if rating is None:
        return None
    return rating.created_at + timedelta(days=survey.account.edit_days)


def record_click(
    session: Session, survey: Survey, score: int, *, method: str, user_agent: str, client_ip: str, now: datetime
) -> Rating:
    """Keep the click as an event and let it start, re-start or flag the survey's pending rating."""
    get_scale(survey.scale).point(score)
    earlier = session.execute(
        select(Click.score, Click.at).where(Click.survey_id == survey.id, Click.kind == "click")
    ).all()
    window = timedelta(minutes=survey.account.settle_minutes)
    reasons = scanners.assess(
        scanners.ClickContext(
            score=score, at=now, user_agent=user_agent, earlier=[tuple(r) for r in earlier], window=window
        )
    )
    session.add(
        Click(
            survey_id=survey.id,
            kind="click",
            score=score,
            method=method,
            user_agent=user_agent[:500],
            client_ip=client_ip[:64],
            reasons=",".join(reasons),
            at=now,
        )
    )
    rating = rating_of(session, survey)
    if rating is None:
        rating = Rating(
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
        session.add(rating)
    elif rating.confirmed_at is not None or rating.status == COUNTED:
        # A counted answer changes only through the page's confirm button.
        session.flush()
        return rating
    rating.score, rating.updated_at = score, now
    if reasons:
        rating.status, rating.reasons, rating.settles_at = FLAGGED, ",".join(reasons), None
    else:
        rating.status, rating.reasons, rating.settles_at = PENDING, "", now + window
    session.flush()
    return rating


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
        rating = Rating(
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
            at=now,
        )
    )
    rating.score, rating.comment, rating.status, rating.reasons = score, comment, COUNTED, ""
    rating.confirmed_at = rating.updated_at = now
    rating.counted_at = rating.counted_at or now
    rating.settles_at = None
    rating.version += 1
    session.flush()
    return queue_write_back(session, rating, now)


def settle(session: Session, rating_id: int, now: datetime) -> WriteBack | None:
    """Count a pending click whose settle window passed without a conflicting click; its write-back, or None."""
    result = session.execute(
        update(Rating)
        .where(Rating.id == rating_id, Rating.status == PENDING, Rating.settles_at <= now)
        .values(status=COUNTED, counted_at=now, updated_at=now, settles_at=None, version=Rating.version + 1)
    )
    if not result.rowcount:
        return None
    rating = session.get(Rating, rating_id, populate_existing=True)
    return queue_write_back(session, rating, now)


def queue_write_back(session: Session, rating: Rating, now: datetime) -> WriteBack:
    """A write-back row for this version of the rating; an older one not yet delivered is superseded."""
    session.execute(
        update(WriteBack)
        .where(WriteBack.rating_id == rating.id, WriteBack.status == "pending")
        .values(status="superseded")
    )
    write_back = WriteBack(
        rating_id=rating.id,
        account_id=rating.account_id,
        version=rating.version,
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    session.add(write_back)
    session.flush()
    followups.rating_counted(session, rating, now)
    return write_back


def rating_of(session: Session, survey: Survey) -> Rating | None:
    return session.scalar(select(Rating).where(Rating.survey_id == survey.id))
