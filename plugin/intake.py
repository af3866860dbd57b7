"""Taking in a verified helpdesk event: store it once, then schedule or cancel surveys, in one transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, bindparam, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.events import REOPENED, TicketEvent
from plugin.models import Account, Survey, WebhookEvent
from plugin.retries import backoff
from plugin.surveys.scheduling import apply_event

MAX_LOOKUP_ATTEMPTS = 8
LOOKUP_LEASE = timedelta(minutes=2)


class StaleAccount(Exception):
    """The account changed since this process read it: read it again and take the event in with that."""


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
        dedupe_key=event.dedupe_key,  # fitted to its column by events.checked
        kind=event.kind,
        ticket_id=event.ticket_id,
        body=body.decode("utf-8", errors="replace"),
        event_json=event.to_json() if event.needs_lookup else None,
        received_at=now,
    )
    new_id = session.scalar(_insert_event(session.get_bind().dialect.name), {**values, "version": account.version})
    if new_id is None:
        seen = session.scalar(
            select(WebhookEvent).where(
                WebhookEvent.account_id == account.id, WebhookEvent.dedupe_key == values["dedupe_key"]
            )
        )
        if seen is None:
            raise StaleAccount(account.key)
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


def claim_lookup(
    session: Session, event_id: int, now: datetime, lease: timedelta = LOOKUP_LEASE
) -> WebhookEvent | None:
    """Take an event whose lookup is due for one attempt; None when it is done, not due, or someone else has it."""
    due = (
        WebhookEvent.id == event_id,
        WebhookEvent.event_json.is_not(None),
        or_(WebhookEvent.lookup_due_at.is_(None), WebhookEvent.lookup_due_at <= now),
    )
    claimed = session.execute(
        update(WebhookEvent)
        .where(*due)
        .values(lookup_due_at=now + lease, lookup_attempts=WebhookEvent.lookup_attempts + 1)
    ).rowcount
    return session.get(WebhookEvent, event_id, populate_existing=True) if claimed else None


def lookup_failed(
    session: Session, event_id: int, event: TicketEvent, error: str, *, retryable: bool, now: datetime
) -> str:
    """Try again later with backoff; after the last attempt (or a refusal) record the survey as skipped, with why."""
    row = session.get(WebhookEvent, event_id, populate_existing=True)
    row.lookup_error = error[:2000]
    if retryable and row.lookup_attempts < MAX_LOOKUP_ATTEMPTS:
        row.lookup_due_at = now + backoff(row.lookup_attempts)
        return "retrying"
    survey = complete(session, session.get(Account, row.account_id), row, event, now)
    if survey is not None and survey.status == "skipped":
        survey.reason = f"lookup_failed: {error}"[:2000]
    return "gave up"


@functools.cache
def _insert_event(dialect: str) -> Insert:
    """INSERT the event unless its dedupe key is taken, and only while the account row still has the version the
    caller read (its copy may be a process's cached one: plugin/accounts.py): built once, parameters only."""
    columns = WebhookEvent.__table__.c
    names = ("account_id", "dedupe_key", "kind", "ticket_id", "body", "event_json", "received_at")
    values = select(*(bindparam(name, type_=columns[name].type) for name in names)).where(
        exists().where(Account.id == bindparam("account_id"), Account.version == bindparam("version"))
    )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(WebhookEvent.__table__)
        .from_select(names, values)
        .on_conflict_do_nothing(index_elements=["account_id", "dedupe_key"])
        .returning(columns.id)
    )
