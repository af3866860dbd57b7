"""What a ticket event does to surveys: schedule one (or record why not), or cancel one not yet sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from plugin.events import REOPENED, SOLVED, TicketEvent
from plugin.models import Account, Survey, Unsubscribe, WebhookEvent

SCHEDULED, SENT, SKIPPED, CANCELLED, FAILED = "scheduled", "sent", "skipped", "cancelled", "failed"


def apply_event(
    session: Session, account: Account, event: TicketEvent, row: WebhookEvent, now: datetime
) -> Survey | None:
    """Schedule, skip or cancel for this event; returns the survey it created or cancelled, if any."""
    if event.kind == SOLVED:
        return schedule_survey(session, account, event, row, now)
    if event.kind == REOPENED:
        return cancel_unsent(session, account, event.ticket_id, now)
    return None


def schedule_survey(session: Session, account: Account, event: TicketEvent, row: WebhookEvent, now: datetime) -> Survey:
    """A survey row for a solved ticket: scheduled after the account's delay, or skipped with its reason."""
    email = (event.requester.email or "").strip().lower()
    survey = Survey(
        account_id=account.id,
        event_id=row.id,
        ticket_id=event.ticket_id,
        ticket_subject=event.subject[:500],
        ticket_url=event.url,
        requester_email=email,
        requester_name=(event.requester.name or "")[:200],
        locale=event.requester.locale or account.locale,
        agent_id=event.assignee.id,
        agent_email=(event.assignee.email or "").lower() or None,
        agent_name=event.assignee.name,
        brand=event.brand,
        team=event.group,
        scale=account.scale,
        status=SCHEDULED,
        scheduled_at=now + timedelta(minutes=account.delay_minutes),
        created_at=now,
    )
    reason = skip_reason(session, account, event.ticket_id, email, now)
    if reason:
        survey.status, survey.reason = SKIPPED, reason
    session.add(survey)
    session.flush()
    return survey


def skip_reason(session: Session, account: Account, ticket_id: str, email: str, now: datetime) -> str | None:
    """Why this ticket's requester must not get a survey now, or None when they may."""
    if not email or "@" not in email:
        return "no_requester_email"
    active = (Survey.account_id == account.id, Survey.status.in_((SCHEDULED, SENT)))
    checks = [
        (
            "unsubscribed",
            select(Unsubscribe.id).where(Unsubscribe.account_id == account.id, Unsubscribe.email == email),
        ),
        (
            "already_scheduled",
            select(Survey.id).where(*active, Survey.ticket_id == ticket_id, Survey.status == SCHEDULED),
        ),
    ]
    if account.throttle_days:
        since = now - timedelta(days=account.throttle_days)
        checks.append(
            ("throttled", select(Survey.id).where(*active, Survey.requester_email == email, Survey.created_at > since))
        )
    # One round trip for every rule, first reason wins.
    found = session.execute(select(*(exists(query).label(reason) for reason, query in checks))).one()
    return next((reason for (reason, _), hit in zip(checks, found, strict=True) if hit), None)


def cancel_unsent(session: Session, account: Account, ticket_id: str, now: datetime) -> Survey | None:
    """Cancel the ticket's survey that has not gone out yet (the ticket was reopened)."""
    survey = session.scalar(
        select(Survey).where(Survey.account_id == account.id, Survey.ticket_id == ticket_id, Survey.status == SCHEDULED)
    )
    if survey is None:
        return None
    # Conditional update: if the sender claimed it a moment ago, it stays as the sender leaves it.
    result = session.execute(
        update(Survey)
        .where(Survey.id == survey.id, Survey.status == SCHEDULED)
        .values(status=CANCELLED, reason=f"ticket reopened at {now.isoformat(timespec='seconds')}")
    )
    return survey if result.rowcount else None
