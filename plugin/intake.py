"""Taking in a verified helpdesk event: store it once, then schedule or cancel surveys, in one transaction."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Insert, Select, bindparam, exists, false, null, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin import signature_checks
from plugin.db import run_one, sql_constant
from plugin.events import REOPENED, TicketEvent
from plugin.models import Account, Survey, WebhookEvent
from plugin.retries import backoff
from plugin.surveys.scheduling import (
    CANCEL,
    SCHEDULE,
    Outcome,
    Plan,
    apply_event,
    apply_plan,
    cancel_unsent,
    insert_survey,
    plan_event,
)

_OUTCOME = ("id", "status", "reason", "scheduled_at")

MAX_LOOKUP_ATTEMPTS = 8
LOOKUP_LEASE = timedelta(minutes=2)


class StaleAccount(Exception):
    """The account changed since this process read it: read it again and take the event in with that."""


@dataclass(frozen=True)
class Intake:
    duplicate: bool
    kind: str  # the event's, as stored (for a repeat: as first stored)
    ticket_id: str
    survey: Outcome | None = None
    held_pair: dict | None = None  # a signature rating is held for the pair the event named: release it


def take_in(
    session: Session,
    account: Account,
    event: TicketEvent,
    body: bytes,
    now: datetime,
    store: Callable[[Session, Plan, dict, datetime], Stored] | None = None,
) -> Intake:
    """Store the event unless seen before (same dedupe key), and apply it to the ticket's surveys.

    On PostgreSQL this is one statement (`store_at_once`), so that in an autocommit session
    (Database.statement_session) a webhook costs one round trip; SQLite, which has no data-modifying CTEs, runs the
    same statements one after the other in the session's transaction (`store_one_by_one`). Either way nothing is
    written unless the event is new and the account still has the version the caller read (StaleAccount otherwise).
    """
    text = body.decode("utf-8", errors="replace")
    values = dict(
        account_id=account.id,
        dedupe_key=event.dedupe_key,  # fitted to its column by events.checked
        kind=event.kind,
        ticket_id=event.ticket_id,
        body=text,
        event_json=event.to_json() if event.needs_lookup else None,
        received_at=now,
    )
    plan = Plan(None, {}) if event.needs_lookup else plan_event(session, account, event, text, now)
    if store is None:
        store = store_at_once if session.get_bind().dialect.name == "postgresql" else store_one_by_one
    new_id, survey, held_pair = store(session, plan, {**plan.params, **values, "version": account.version}, now)
    if new_id is None:
        seen = session.scalar(
            select(WebhookEvent).where(
                WebhookEvent.account_id == account.id, WebhookEvent.dedupe_key == values["dedupe_key"]
            )
        )
        if seen is None:
            raise StaleAccount(account.key)
        return Intake(duplicate=True, kind=seen.kind, ticket_id=seen.ticket_id)
    return Intake(False, event.kind, event.ticket_id, survey, held_pair=held_pair)


# What storing an event gave: the new event's id (None: a repeat, or a stale account), the survey it created or
# cancelled, and the (ticket, agent) pair whose held signature ratings are still to be released.
Stored = tuple[int | None, Outcome | None, dict | None]


def store_at_once(session: Session, plan: Plan, params: dict, now: datetime) -> Stored:
    """PostgreSQL: the event, its pair and its survey in one statement (`_at_once`), its own transaction on the
    session's autocommit engine (Database.statement_session), compiled once (plugin/db.py run_one)."""
    stored = run_one(session, _at_once(plan.action, plan.rules, plan.pair is not None), params)
    if stored is None:
        return None, None, None
    event_id, survey_id, status, reason, scheduled_at, held = stored
    survey = Outcome(survey_id, status, reason, scheduled_at) if survey_id else None
    return event_id, survey, plan.pair if held else None


def store_one_by_one(session: Session, plan: Plan, params: dict, now: datetime) -> Stored:
    """The same statements one after the other, in the caller's transaction; held ratings are released in it."""
    new_id = session.scalar(_insert_event(session.get_bind().dialect.name), params)
    return new_id, apply_plan(session, plan, new_id, now) if new_id is not None else None, None


def complete(
    session: Session, account: Account, row: WebhookEvent, event: TicketEvent, now: datetime
) -> Outcome | None:
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
        session.execute(update(Survey).where(Survey.id == survey.id).values(reason=f"lookup_failed: {error}"[:2000]))
    return "gave up"


@functools.cache
def _insert_event(dialect: str) -> Insert:
    """INSERT the event unless its dedupe key is taken, and only while the account row still has the version the
    caller read (its copy may be a process's cached one: plugin/accounts.py): built once, parameters only."""
    columns = WebhookEvent.__table__.c
    names = ("account_id", "dedupe_key", "kind", "ticket_id", "body", "event_json", "received_at")
    # lookup_attempts written in: a column default is not applied to an INSERT inside a CTE
    values = select(*(bindparam(name, type_=columns[name].type) for name in names), sql_constant(0)).where(
        exists().where(Account.id == bindparam("account_id"), Account.version == bindparam("version"))
    )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(WebhookEvent.__table__)
        .from_select([*names, "lookup_attempts"], values)
        .on_conflict_do_nothing(index_elements=["account_id", "dedupe_key"])
        .returning(columns.id)
    )


@functools.cache
def _at_once(action: str | None, rules: ColumnElement | None, names_a_pair: bool) -> Select:
    """PostgreSQL: the event's INSERT, the pair's and the survey's (or the cancellation) as one statement of
    data-modifying CTEs, built from the very statements `apply_plan` runs one by one. Each later part reads the
    event CTE, so it writes only if the event was new. Its one row: the event's id, the survey's Outcome columns
    and whether a signature rating is held for the pair; no row when the event was not stored."""
    new_event = _insert_event("postgresql").cte("new_event")
    parts = [signature_checks.record_pair("postgresql", new_event).cte("pair")] if names_a_pair else []
    held = signature_checks.HELD if names_a_pair else false()
    if action == SCHEDULE:
        survey = insert_survey(rules, new_event).cte("survey")
    elif action == CANCEL:
        survey = cancel_unsent(new_event).cte("survey")
    else:
        return select(
            new_event.c.id.label("event_id"), *(null().label(n) for n in _OUTCOME), held.label("held")
        ).add_cte(*parts)
    return (
        select(new_event.c.id.label("event_id"), *(survey.c[n] for n in _OUTCOME), held.label("held"))
        .select_from(new_event.outerjoin(survey, true()))
        .add_cte(*parts)
    )
