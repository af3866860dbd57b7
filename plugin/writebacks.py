"""Delivering ratings to the helpdesk: claim a due write-back, call the adapter, retry with backoff, park."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin import retries
from plugin.adapters import RatingReport
from plugin.models import Account, Rating, WriteBack
from plugin.surveys.metrics import csat_percent
from plugin.surveys.scales import scale_for

PENDING, DELIVERED, PARKED, SUPERSEDED = "pending", "delivered", "parked", "superseded"
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # a claimed write-back is not re-claimed while its call may be in flight


def claim(session: Session, write_back_id: int, now: datetime, lease: timedelta = LEASE) -> WriteBack | None:
    """Take a due write-back for one delivery attempt; None when it is not due or someone else has it."""
    return retries.claim(session, WriteBack, write_back_id, now, lease)


def report_for(session: Session, rating: Rating, now: datetime) -> RatingReport:
    """What the helpdesk is told: the rating as it is now and its agent's rolling 30-day score."""
    survey = rating.survey
    # The account's options decide what counts as satisfied in the agent's 30-day CSAT (8 on csat10, if it says so).
    scale = scale_for(rating.scale, session.get(Account, rating.account_id).options)
    scores = (
        session.scalars(
            select(Rating.score).where(
                Rating.account_id == rating.account_id,
                Rating.agent_email == rating.agent_email,
                Rating.scale == rating.scale,
                Rating.status == "counted",
                Rating.counted_at > now - timedelta(days=30),
            )
        ).all()
        if rating.agent_email
        else []
    )
    return RatingReport(
        ticket_id=survey.ticket_id,
        ticket_url=survey.ticket_url,
        agent_id=survey.agent_id,
        agent_email=survey.agent_email,
        agent_name=survey.agent_name,
        scale=rating.scale,
        score=rating.score,
        max_score=scale.max_score,
        score_label=scale.point(rating.score).label,
        comment=rating.comment,
        status=rating.status,
        version=rating.version,
        rated_at=rating.updated_at,
        agent_responses_30d=len(scores),
        agent_csat_30d=None if not scores else round(csat_percent(scores, scale), 1),
        tag=scale.tag(rating.score),
    )


def mark_delivered(session: Session, write_back_id: int, now: datetime) -> None:
    session.execute(
        update(WriteBack)
        .where(WriteBack.id == write_back_id)
        .values(status=DELIVERED, delivered_at=now, last_error=None)
    )


def mark_failed(
    session: Session, write_back_id: int, error: str, *, retryable: bool, retry_after: float | None, now: datetime
) -> str:
    """Schedule the next attempt, or park it after the last one or when retrying cannot help; returns the status."""
    write_back = session.get(WriteBack, write_back_id, populate_existing=True)
    status = retries.retry_or_give_up(
        write_back,
        error,
        retryable=retryable,
        retry_after=retry_after,
        now=now,
        max_attempts=MAX_ATTEMPTS,
        gave_up=PARKED,
    )
    session.flush()
    return status


def replay(session: Session, write_back_id: int, account_id: int, now: datetime) -> WriteBack | None:
    """Put a parked write-back back in line with a fresh set of attempts; None if there is no such parked one."""
    write_back = session.scalar(
        select(WriteBack).where(
            WriteBack.id == write_back_id, WriteBack.account_id == account_id, WriteBack.status == PARKED
        )
    )
    if write_back is None:
        return None
    # Every delivery reports the rating as it is now, so a replay also carries any later change.
    write_back.status = PENDING
    write_back.attempts, write_back.next_attempt_at = 0, now
    session.flush()
    return write_back
