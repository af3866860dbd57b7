"""Taking in a verified helpdesk event: store it once, then schedule or cancel surveys, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin.events import TicketEvent
from plugin.models import Account, Survey, WebhookEvent
from plugin.surveys.scheduling import apply_event


@dataclass(frozen=True)
class Intake:
    duplicate: bool
    event: WebhookEvent
    survey: Survey | None = None
    needs_lookup: bool = False  # enqueue complete_event: the platform sent ids only


def take_in(session: Session, account: Account, event: TicketEvent, body: bytes, now: datetime) -> Intake:
    """Store the event unless seen before (same dedupe key), and apply it to the ticket's surveys."""
    seen = session.scalar(
        select(WebhookEvent).where(WebhookEvent.account_id == account.id, WebhookEvent.dedupe_key == event.dedupe_key)
    )
    if seen is not None:
        return Intake(duplicate=True, event=seen)
    row = WebhookEvent(
        account_id=account.id,
        dedupe_key=event.dedupe_key[:200],
        kind=event.kind,
        ticket_id=event.ticket_id[:100],
        body=body.decode("utf-8", errors="replace"),
        event_json=event.to_json() if event.needs_lookup else None,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same delivery, racing in on another connection
        seen = session.scalar(
            select(WebhookEvent).where(
                WebhookEvent.account_id == account.id, WebhookEvent.dedupe_key == event.dedupe_key
            )
        )
        return Intake(duplicate=True, event=seen)
    if event.needs_lookup:
        return Intake(duplicate=False, event=row, needs_lookup=True)
    return Intake(duplicate=False, event=row, survey=apply_event(session, account, event, row, now))


def complete(session: Session, account: Account, row: WebhookEvent, event: TicketEvent, now: datetime) -> Survey | None:
    """Apply an event whose people a lookup has filled in; a second run finds nothing left to do."""
    if row.event_json is None:
        return None
    row.event_json = None
    return apply_event(session, account, event, row, now)
