"""A survey's way out: claim it when due, then record it sent, retried, failed or skipped."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from plugin.db import run_one, sql_constant
from plugin.models import Survey, Unsubscribe
from plugin.retries import backoff
from plugin.surveys.scheduling import FAILED, SCHEDULED, SENT, SKIPPED

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=5)  # a claimed survey is not re-claimed while its SMTP call may be in flight
BATCH = 25  # surveys one send_survey job claims and sends (claim_due)


def claim(session: Session, survey_id: int, now: datetime, lease: timedelta = LEASE) -> Survey | None:
    """Take a due survey for one sending attempt; None when it is not due, not scheduled, or already taken."""
    claimed = claim_due(session, survey_id, now, lease, limit=1)
    return claimed[0] if claimed and claimed[0].id == survey_id else None


def claim_due(session: Session, survey_id: int, now: datetime, lease: timedelta = LEASE, limit: int = BATCH) -> list:
    """Take the survey `survey_id` when it is due, and with it up to `limit - 1` other due email surveys, oldest
    first, in one statement: each claim is an attempt and a lease, as one by one (`claim`).

    One job sends a batch over the kept SMTP connection, so RQ's cost and the claim's are paid once per batch,
    not once per email (docs/decisions.md). A killed worker's unsent claims wait for their lease, then the sweep
    offers them again: `limit` bounds how many. Rows another worker holds are skipped (SKIP LOCKED on
    PostgreSQL), and the WHERE is re-checked on every row, so no survey is claimed twice.
    """
    due = (Survey.status == SCHEDULED) & (Survey.scheduled_at <= now)
    wanted = (
        select(Survey.id)
        .where(due, or_(Survey.id == survey_id, Survey.channel == "email") if limit > 1 else Survey.id == survey_id)
        .order_by((Survey.id == survey_id).desc(), Survey.scheduled_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        wanted = wanted.with_for_update(skip_locked=True)
    # A CTE, materialised: as a plain IN (subquery), PostgreSQL may run the LIMIT again while re-checking a row
    # another worker changed meanwhile, and claim more than `limit`.
    picked = wanted.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
    ids = session.scalars(
        update(Survey)
        .where(Survey.id.in_(select(picked.c.id)), due)
        .values(scheduled_at=now + lease, attempts=Survey.attempts + 1)
        .returning(Survey.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ids:
        return []
    surveys = session.scalars(select(Survey).where(Survey.id.in_(ids)).execution_options(populate_existing=True))
    by_id = {survey.id: survey for survey in surveys}
    listed = _listed(session, by_id.values())
    claimed = [by_id[i] for i in sorted(ids, key=lambda i: (i != survey_id, i))]
    return [
        survey
        for survey in claimed
        if (survey.account_id, _address(survey)) not in listed or _reachable(session, survey)
    ]


def next_due(session: Session, now: datetime) -> int | None:
    """The oldest survey due now, if any (what a full batch offers next)."""
    due = select(Survey.id).where(Survey.status == SCHEDULED, Survey.scheduled_at <= now)
    return session.scalar(due.order_by(Survey.scheduled_at).limit(1))


def _address(survey: Survey) -> str | None:
    """The channel's own address: a phone for sms / whatsapp, else the email address."""
    return survey.requester_phone if survey.channel in ("sms", "whatsapp") else survey.requester_email


def _listed(session: Session, surveys) -> set[tuple[int, str]]:
    """Which (account, address) of these surveys are on their account's unsubscribe list: one query for a batch."""
    pairs = {(survey.account_id, _address(survey)) for survey in surveys if _address(survey)}
    if not pairs:
        return set()
    rows = session.execute(
        select(Unsubscribe.account_id, Unsubscribe.email).where(
            Unsubscribe.account_id.in_({a for a, _ in pairs}), Unsubscribe.email.in_({e for _, e in pairs})
        )
    )
    return {(account_id, email) for account_id, email in rows} & pairs


def _reachable(session: Session, survey: Survey) -> bool:
    """A survey whose address unsubscribed: a phone that answered STOP since scheduling goes on the next channel
    that reaches the person, as at scheduling time (choice.next_channel, email last); else skipped."""
    tried: set[str] = set()
    while _unsubscribed(session, survey):
        tried.add(survey.channel)
        following = _next_channel(session, survey, tried)
        if following is None:
            survey.status, survey.reason = SKIPPED, "unsubscribed"
            return False
        survey.reason = fell_back(following, f"the {survey.channel} number is unsubscribed (STOP)", survey.reason)
        survey.channel = following
    return True


def _unsubscribed(session: Session, survey: Survey) -> bool:
    listed = select(Unsubscribe.id).where(
        Unsubscribe.account_id == survey.account_id, Unsubscribe.email == _address(survey)
    )
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


def mark_sent(session: Session, survey_id: int, message_id: str, now: datetime, reason: str | None = None) -> None:
    """Sent. `reason` is the survey's as claimed: a fallback's note stays (why it went on this channel). One
    statement: in a statement_session (Database.transaction(..., statements=True)) it is its own transaction, one
    round trip per email."""
    params = {"sent_survey": survey_id, "sent_now": now, "sent_message_id": message_id}
    run_one(session, _MARK_SENT, {**params, "sent_reason": fallback_note(reason)})


# Built once. Its parameters are named unlike any column: an UPDATE executed with a parameter named like a column
# would also SET that column.
_MARK_SENT = (
    update(Survey)
    .where(Survey.id == bindparam("sent_survey"))
    .values(
        status=sql_constant(SENT),
        sent_at=bindparam("sent_now"),
        message_id=bindparam("sent_message_id"),
        reason=bindparam("sent_reason"),
    )
    .returning(Survey.id)
)


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
