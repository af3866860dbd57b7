"""Taking in a verified helpdesk event: store it once, then schedule or cancel surveys, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.events import REOPENED, TicketEvent
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
    # One round trip: insert unless this delivery was seen before (a retry, or the same one racing in).
    values = dict(
        account_id=account.id,
        dedupe_key=event.dedupe_key[:200],
        kind=event.kind,
        ticket_id=event.ticket_id[:100],
        body=body.decode("utf-8", errors="replace"),
        event_json=event.to_json() if event.needs_lookup else None,
        received_at=now,
    )
    insert = (
        _insert_for(session)(WebhookEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["account_id", "dedupe_key"])
    )
    new_id = session.scalar(insert.returning(WebhookEvent.id))
    if new_id is None:
        seen = session.scalar(
            select(WebhookEvent).where(
                WebhookEvent.account_id == account.id, WebhookEvent.dedupe_key == values["dedupe_key"]
            )
        )
        return Intake(duplicate=True, event=seen)
    row = WebhookEvent(id=new_id, **values)  # what was stored, without reading it back
    if event.needs_lookup:
        return Intake(duplicate=False, event=row, needs_lookup=True)
    return Intake(duplicate=False, event=row, survey=apply_event(session, account, event, row, now))


def complete(session: Session, account: Account, row: WebhookEvent, event: TicketEvent, now: datetime) -> Survey | None:
    """Apply an event whose people a lookup has filled in; a second run finds nothing left to do."""
    if row.event_json is None:
        return None
    row.event_json = None
    reopened_since = session.scalar(
        select(WebhookEvent.id).where(
            WebhookEvent.account_id == account.id,
            WebhookEvent.ticket_id == row.ticket_id,
            WebhookEvent.kind == REOPENED,
            WebhookEvent.id > row.id,
        )
    )
    if reopened_since:  # the ticket was reopened while we were asking who the customer is: no survey
        return None
    return apply_event(session, account, event, row, now)


def _insert_for(session: Session):
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite alike)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
