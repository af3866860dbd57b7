"""A survey's way out: claim it when due, then record it sent, retried, failed or skipped."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin.models import Survey, Unsubscribe
from plugin.retries import backoff
from plugin.surveys.scheduling import FAILED, SCHEDULED, SENT, SKIPPED

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=5)  # a claimed survey is not re-claimed while its SMTP call may be in flight


def claim(session: Session, survey_id: int, now: datetime, lease: timedelta = LEASE) -> Survey | None:
    """Take a due survey for one sending attempt; None when it is not due, not scheduled, or already taken."""
    result = session.execute(
        update(Survey)
        .where(Survey.id == survey_id, Survey.status == SCHEDULED, Survey.scheduled_at <= now)
        .values(scheduled_at=now + lease, attempts=Survey.attempts + 1)
    )
    if not result.rowcount:
        return None
    survey = session.get(Survey, survey_id, populate_existing=True)
    # The channel's own address: a phone that answered STOP, an email that unsubscribed.
    address = survey.requester_phone if survey.channel in ("sms", "whatsapp") else survey.requester_email
    if session.scalar(
        select(Unsubscribe.id).where(Unsubscribe.account_id == survey.account_id, Unsubscribe.email == address)
    ):
        survey.status, survey.reason = SKIPPED, "unsubscribed"
        return None
    return survey


def mark_sent(session: Session, survey_id: int, message_id: str, now: datetime) -> None:
    session.execute(
        update(Survey)
        .where(Survey.id == survey_id)
        .values(status=SENT, sent_at=now, message_id=message_id, reason=None)
    )


def mark_send_failed(session: Session, survey_id: int, error: str, *, permanent: bool, now: datetime) -> str:
    """Retry later with backoff, or mark failed with the server's text; returns the new status."""
    survey = session.get(Survey, survey_id, populate_existing=True)
    if permanent or survey.attempts >= MAX_ATTEMPTS:
        survey.status = FAILED
    else:
        survey.scheduled_at = now + backoff(survey.attempts)  # the same policy as every retried row
    survey.reason = error[:2000]
    session.flush()
    return survey.status


def mark_skipped(session: Session, survey_id: int, reason: str) -> str:
    """This survey cannot be sent this way at all (e.g. the server cannot take its address): skipped, with why."""
    session.execute(update(Survey).where(Survey.id == survey_id).values(status=SKIPPED, reason=reason[:2000]))
    return SKIPPED


def replay(session: Session, survey_id: int, account_id: int, now: datetime) -> Survey | None:
    """Schedule a failed survey again, now, with its attempts reset; None unless it is this account's and failed."""
    replayed = session.execute(
        update(Survey)
        .where(Survey.id == survey_id, Survey.account_id == account_id, Survey.status == FAILED)
        .values(status=SCHEDULED, scheduled_at=now, attempts=0)
    ).rowcount
    return session.get(Survey, survey_id, populate_existing=True) if replayed else None
