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
    # The channel's own address: a phone that answered STOP since scheduling goes on the next channel that reaches
    # the person, as at scheduling time (choice.next_channel, email last); an email that unsubscribed is skipped.
    tried: set[str] = set()
    while _unsubscribed(session, survey):
        tried.add(survey.channel)
        following = _next_channel(session, survey, tried)
        if following is None:
            survey.status, survey.reason = SKIPPED, "unsubscribed"
            return None
        survey.reason = fell_back(following, f"the {survey.channel} number is unsubscribed (STOP)", survey.reason)
        survey.channel = following
    return survey


def _unsubscribed(session: Session, survey: Survey) -> bool:
    address = survey.requester_phone if survey.channel in ("sms", "whatsapp") else survey.requester_email
    listed = select(Unsubscribe.id).where(Unsubscribe.account_id == survey.account_id, Unsubscribe.email == address)
    return session.scalar(listed) is not None


def _next_channel(session: Session, survey: Survey, tried: set[str]) -> str | None:
    from plugin.channels import choice

    contact = choice.Contact(email=survey.requester_email, phone=survey.requester_phone, chat=False)
    return choice.next_channel(session, survey.account, contact, tried)


FELL_BACK = "fell back to "


def fell_back(channel: str, why: str, earlier: str | None = None) -> str:
    """The survey's reason once it goes on another channel: why the first did not take it, kept after it is sent
    (e.g. "fell back to email: twilio HTTP 400 code 21610: ..."); an earlier fallback's note stays in front."""
    note = f"{FELL_BACK}{channel}: {why}"
    previous = fallback_note(earlier)
    return (f"{previous}; then {note}" if previous else note)[:2000]


def fallback_note(reason: str | None) -> str | None:
    """The fallback part of a survey's reason, without a later retry's error."""
    if not reason or not reason.startswith(FELL_BACK):
        return None
    return reason.split(RETRY_SEPARATOR)[0]


RETRY_SEPARATOR = " | retrying: "


def mark_sent(session: Session, survey_id: int, message_id: str, now: datetime) -> None:
    session.execute(
        update(Survey)
        .where(Survey.id == survey_id)
        .values(status=SENT, sent_at=now, message_id=message_id, reason=fallback_note(_reason(session, survey_id)))
    )


def _reason(session: Session, survey_id: int) -> str | None:
    return session.scalar(select(Survey.reason).where(Survey.id == survey_id))


def mark_send_failed(session: Session, survey_id: int, error: str, *, permanent: bool, now: datetime) -> str:
    """Retry later with backoff, or mark failed with the server's text; returns the new status."""
    survey = session.get(Survey, survey_id, populate_existing=True)
    if permanent or survey.attempts >= MAX_ATTEMPTS:
        survey.status = FAILED
    else:
        survey.scheduled_at = now + backoff(survey.attempts)  # the same policy as every retried row
    note = fallback_note(survey.reason)  # why it is on this channel stays in front of the error
    survey.reason = (f"{note}{RETRY_SEPARATOR}{error}" if note else error)[:2000]
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
