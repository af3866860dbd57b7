"""What a ticket event does to surveys: schedule one (or record why not), or cancel one not yet sent.

The delivery rules (docs/emails.md), each skip stored as the survey's reason, first match wins:
no_requester_email, invalid_address (plugin/addresses.py), no_reply_address, internal_address (option
internal_domains), excluded_tag (option exclude_tags), then in one query unsubscribed, already_scheduled,
throttled, and last not_sampled (option sample_percent), so a sample is drawn from the eligible tickets only.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    CTE,
    ColumnElement,
    Insert,
    Text,
    Update,
    bindparam,
    case,
    exists,
    func,
    insert,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from plugin import addresses, i18n, signature_checks
from plugin.channels import choice
from plugin.db import sql_constant
from plugin.events import REOPENED, SOLVED, TicketEvent
from plugin.models import Account, Survey, Unsubscribe, WebhookEvent

SCHEDULED, SENT, SKIPPED, CANCELLED, FAILED = "scheduled", "sent", "skipped", "cancelled", "failed"

# Mailboxes nobody reads: no-reply senders, bounce handlers, mailer daemons, autoresponders (the local part, with
# any -suffix or +tag: noreply-billing@, bounces+1234@).
NO_REPLY = re.compile(
    r"(?:(?:no|do[-_.]?not|dont|never)[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?|auto[-_.]?(?:reply|responder))"
    r"(?:[-_.+].*)?",
    re.IGNORECASE,
)


SCHEDULE, CANCEL = "schedule", "cancel"


@dataclass(frozen=True)
class Plan:
    """What a ticket event will do, decided before anything is written: the statements' shape and parameters.

    `action` is SCHEDULE (a survey row, scheduled or skipped by `rules`), CANCEL (the ticket's unsent survey) or
    None; `pair` is the (ticket, assignee) pair to record (plugin/signature_checks.py), if the event names one.
    Run step by step by `apply_plan`, or with the event's own INSERT as one statement (plugin/intake.py).
    """

    action: str | None
    params: dict
    rules: ColumnElement | None = None
    pair: dict | None = None


@dataclass(frozen=True)
class Outcome:
    """The survey an event created or cancelled, as the statement that wrote it returned it."""

    id: int
    status: str
    reason: str | None
    scheduled_at: datetime


def plan_event(session: Session, account: Account, event: TicketEvent, body: str, now: datetime) -> Plan:
    """Schedule for a solved ticket, cancel for a reopened one; either way record the pair the event names.
    `body` is the webhook as received (Chatwoot's tells the inbox type and the phone)."""
    pair = signature_checks.pair_of(account, event)
    pair_params = {**pair, "seen_at": now} if pair else {}
    if event.kind == SOLVED:
        rules, params = _survey_params(session, account, event, body, now)
        return Plan(SCHEDULE, {**params, **pair_params}, rules, pair)
    if event.kind == REOPENED:
        cancelled = dict(
            account_id=account.id,
            ticket_id=event.ticket_id,
            cancel_reason=f"ticket reopened at {now.isoformat(timespec='seconds')}",
        )
        return Plan(CANCEL, {**cancelled, **pair_params}, pair=pair)
    return Plan(None, pair_params, pair=pair)


def apply_plan(session: Session, plan: Plan, event_id: int, now: datetime) -> Outcome | None:
    """Run the plan for a stored event, statement after statement, in the caller's transaction."""
    if plan.pair is not None:
        signature_checks.confirm_pair(session, plan.pair, now)
    if plan.action == SCHEDULE:
        stored = session.execute(insert_survey(plan.rules), {**plan.params, "event_id": event_id}).one()
        return Outcome(**stored._mapping)
    if plan.action == CANCEL:
        cancelled = session.execute(cancel_unsent(), plan.params).first()
        return Outcome(**cancelled._mapping) if cancelled else None
    return None


def apply_event(
    session: Session, account: Account, event: TicketEvent, row: WebhookEvent, now: datetime
) -> Outcome | None:
    """Schedule, skip or cancel for this stored event; the survey it created or cancelled, if any.

    Any event naming the ticket's assignee also confirms that agent's signature-link rating on it, if one is held.
    """
    return apply_plan(session, plan_event(session, account, event, row.body, now), row.id, now)


def _survey_params(
    session: Session, account: Account, event: TicketEvent, body: str, now: datetime
) -> tuple[ColumnElement, dict]:
    """The rules (an SQL expression) and every parameter of the survey row a solved ticket gets."""
    email = (event.requester.email or "").strip().lower()
    contact = choice.contact_from(
        account.platform, email, event.requester.phone, event.channel, body, region=choice.region_of(account)
    )
    channel = choice.choose(session, account, contact)
    rules, params = skip_rules(
        account,
        event.ticket_id,
        email,
        now,
        tags=event.tags,
        phone=contact.phone,
        channel=channel,
        helpdesk_reason=event.skip_reason,  # e.g. the helpdesk surveyed this ticket itself
    )
    params["decided"] = choice.unreachable_reason(contact, params["decided"])  # an unusable phone says why
    values = dict(
        account_id=account.id,
        ticket_id=event.ticket_id,
        ticket_subject=event.subject[:500],
        ticket_url=event.url,
        requester_email=email[:320],  # longer is never a valid address: it is skipped by the rules, invalid_address
        requester_name=(event.requester.name or "")[:200],
        requester_phone=contact.phone,
        locale=i18n.normalise(event.requester.locale, account.locale),
        agent_id=event.assignee.id,
        agent_email=(event.assignee.email or "").lower() or None,
        agent_name=event.assignee.name,
        brand=event.brand,
        team=event.group,
        scale=account.scale,
        channel=channel,
        scheduled_at=now + timedelta(minutes=account.delay_minutes),
        created_at=now,
    )
    return rules, {**values, **params}


def skip_rules(
    account: Account,
    ticket_id: str,
    email: str,
    now: datetime,
    tags: Iterable[str] = (),
    phone: str | None = None,
    channel: str = "email",
    helpdesk_reason: str | None = None,
) -> tuple[ColumnElement, dict]:
    """Why this ticket's requester must not get a survey now, as one SQL expression (NULL when they may) and its
    parameters: the rules decided without the database go in as a parameter ahead of the database's checks, the
    sample and the helpdesk's own reason (`helpdesk_reason`, e.g. it surveyed this ticket itself) after them.

    The address rules concern email; the unsubscribe list is checked for the channel's own address (the phone on
    sms and whatsapp), and the throttle is per customer across channels (same email or same phone).
    """
    by_phone = channel in ("sms", "whatsapp")
    decided = (None if channel != "email" else address_reason(email, account.options)) or tag_reason(
        tags, account.options
    )
    throttled = bool(account.throttle_days) and bool(email or phone)
    params = dict(
        decided=decided,
        account_id=account.id,
        ticket_id=ticket_id,
        address=phone if by_phone else email,
        not_sampled=None if sampled(account.key, ticket_id, account.options) else "not_sampled",
        helpdesk_reason=helpdesk_reason,
    )
    if throttled:
        params.update(email=email, phone=phone, since=now - timedelta(days=account.throttle_days))
    return _rules(throttled, bool(email), bool(phone)), params


def address_reason(email: str, options: Mapping | None) -> str | None:
    """no_requester_email, no_reply_address or internal_address for an address that must not be surveyed."""
    local, at, domain = (email or "").strip().lower().rpartition("@")
    if not at or not local or not domain:
        return "no_requester_email"
    unusable = addresses.problem(email)
    if unusable:
        return f"invalid_address: {unusable}"
    if NO_REPLY.fullmatch(local):
        return "no_reply_address"
    internal = _option_list(options, "internal_domains")
    if any(domain == d or domain.endswith("." + d) for d in internal):
        return "internal_address"
    return None


def tag_reason(tags: Iterable[str], options: Mapping | None) -> str | None:
    """excluded_tag when the ticket carries one of the account's exclude_tags."""
    excluded = set(_option_list(options, "exclude_tags"))
    return "excluded_tag" if excluded and excluded & {t.strip().lower() for t in tags} else None


def sample_percent(options: Mapping | None) -> float:
    """The account's sample_percent option, 0-100 (default, and for anything unreadable: 100)."""
    try:
        value = float(str((options or {}).get("sample_percent", 100)).strip().rstrip("%"))
    except ValueError:
        return 100.0
    return min(max(value, 0.0), 100.0) if value == value else 100.0  # NaN reads as the default


def sampled(account_key: str, ticket_id: str, options: Mapping | None) -> bool:
    """Whether this ticket is in the account's sample: the same answer for the same ticket, every time."""
    percent = sample_percent(options)
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"{account_key}:{ticket_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def _option_list(options: Mapping | None, key: str) -> list[str]:
    raw = (options or {}).get(key) or ""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return [str(item).strip().lower().lstrip("@") for item in items if str(item).strip()]


# Constants of our own, written into the SQL text (never a parameter): see _rules.
_SCHEDULED = sql_constant(SCHEDULED)
_ACTIVE = (_SCHEDULED, sql_constant(SENT))


@functools.cache
def _rules(throttled: bool, by_email: bool, by_phone: bool) -> ColumnElement:
    """COALESCE(decided without the database, unsubscribed / already_scheduled / throttled, not_sampled, the
    helpdesk's reason): first match wins. Built once per shape; only its parameters change between webhooks."""
    # The status constants are written into the SQL (literal columns) so that the planner matches them to the
    # partial indexes built for these checks (migration 0018) from the query alone, with or without statistics.
    account_id = bindparam("account_id")
    checks = [
        (
            "unsubscribed",
            select(Unsubscribe.id).where(
                Unsubscribe.account_id == account_id, Unsubscribe.email == bindparam("address")
            ),
        ),
        (
            "already_scheduled",
            select(Survey.id).where(
                Survey.account_id == account_id, Survey.ticket_id == bindparam("ticket_id"), Survey.status == _SCHEDULED
            ),
        ),
    ]
    if throttled:
        same_customer = [Survey.requester_email == bindparam("email")] if by_email else []
        if by_phone:
            same_customer.append(Survey.requester_phone == bindparam("phone"))
        active = (Survey.account_id == account_id, Survey.status.in_(_ACTIVE))
        checks.append(
            ("throttled", select(Survey.id).where(*active, or_(*same_customer), Survey.created_at > bindparam("since")))
        )
    database = case(*((exists(query), sql_constant(name)) for name, query in checks), else_=null())
    return func.coalesce(
        bindparam("decided", type_=Text()),
        database,
        bindparam("not_sampled", type_=Text()),
        bindparam("helpdesk_reason", type_=Text()),
    )


_SURVEY_COLUMNS = (
    "account_id", "event_id", "ticket_id", "ticket_subject", "ticket_url", "requester_email", "requester_name",
    "requester_phone", "locale", "agent_id", "agent_email", "agent_name", "brand", "team", "scale", "channel",
    "scheduled_at", "created_at",
)  # fmt: skip
# What every new survey starts with, written into the statement (the column defaults are not applied to an
# INSERT ... SELECT inside a CTE).
_SURVEY_STARTS = {"sent_at": sql_constant(None), "attempts": sql_constant(0), "message_id": sql_constant(None)}


_OUTCOME = tuple(Survey.__table__.c[name] for name in ("id", "status", "reason", "scheduled_at"))


@functools.cache
def insert_survey(rules: ColumnElement, new_event: CTE | None = None) -> Insert:
    """INSERT INTO surveys ... SELECT the values, 'scheduled' or 'skipped', and the reason the rules give; RETURNING
    the Outcome. The event is the `event_id` parameter, or with `new_event` the row that CTE inserted (none: no
    survey), so that one statement stores the event and its survey (plugin/intake.py)."""
    table = Survey.__table__
    # OFFSET 0: the subquery stays one (PostgreSQL would otherwise inline it and run every check twice, once for
    # the status and once for the reason).
    decided = select(rules.label("reason")).offset(sql_constant(0)).subquery("decided")
    status = case((decided.c.reason.is_(None), sql_constant(SCHEDULED)), else_=sql_constant(SKIPPED))
    columns = [
        new_event.c.id if name == "event_id" and new_event is not None else bindparam(name, type_=table.c[name].type)
        for name in _SURVEY_COLUMNS
    ]
    values = select(*columns, *_SURVEY_STARTS.values(), status, decided.c.reason)
    if new_event is not None:
        values = values.select_from(new_event.join(decided, true()))
    names = [*_SURVEY_COLUMNS, *_SURVEY_STARTS, "status", "reason"]
    return insert(table).from_select(names, values).returning(*_OUTCOME)


@functools.cache
def cancel_unsent(new_event: CTE | None = None) -> Update:
    """Cancel the ticket's surveys not gone out yet (the ticket was reopened); RETURNING each Outcome. Conditional:
    one the sender claimed a moment ago stays as the sender leaves it. With `new_event`, only if that CTE inserted
    the event."""
    unsent = (Survey.account_id == bindparam("account_id"), Survey.ticket_id == bindparam("ticket_id"))
    statement = update(Survey).where(*unsent, Survey.status == _SCHEDULED)
    if new_event is not None:
        statement = statement.where(exists(select(new_event.c.id)))
    # SQLAlchemy SETs every column a parameter is named after (account_id and ticket_id, which the WHERE and the
    # event's INSERT take): set to themselves, they stay as they are.
    return statement.values(
        status=CANCELLED, reason=bindparam("cancel_reason"), account_id=Survey.account_id, ticket_id=Survey.ticket_id
    ).returning(*_OUTCOME)
