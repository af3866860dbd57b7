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
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Insert,
    Text,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, make_transient_to_detached

from plugin import addresses, i18n, signature_checks
from plugin.channels import choice
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


def apply_event(
    session: Session, account: Account, event: TicketEvent, row: WebhookEvent, now: datetime
) -> Survey | None:
    """Schedule, skip or cancel for this event; returns the survey it created or cancelled, if any.

    Any event naming the ticket's assignee also confirms that agent's signature-link rating on it, if one is held.
    """
    signature_checks.confirm_from_event(session, account, event, now)
    if event.kind == SOLVED:
        return schedule_survey(session, account, event, row, now)
    if event.kind == REOPENED:
        return cancel_unsent(session, account, event.ticket_id, now)
    return None


def schedule_survey(session: Session, account: Account, event: TicketEvent, row: WebhookEvent, now: datetime) -> Survey:
    """A survey row for a solved ticket: scheduled after the account's delay, or skipped with its reason."""
    email = (event.requester.email or "").strip().lower()
    contact = choice.contact_from(
        account.platform, email, event.requester.phone, event.channel, row.body, region=choice.region_of(account)
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
        event_id=row.id,
        ticket_id=event.ticket_id,
        ticket_subject=event.subject[:500],
        ticket_url=event.url,
        requester_email=email[:320],  # longer is never a valid address: it is skipped below, invalid_address
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
        sent_at=None,
        attempts=0,
        message_id=None,
    )
    # One statement decides and stores: INSERT ... SELECT the survey with the status and reason the rules give
    # (plain Core: the unit of work would cost more than the statement). The object joins the session as the row
    # it stored, so a caller's later change to it (lookup_failed's reason) is written as an UPDATE.
    stored = session.execute(_insert_survey(rules), {**values, **params}).one()
    survey = Survey(id=stored.id, status=stored.status, reason=stored.reason, **values)
    make_transient_to_detached(survey)
    session.add(survey)
    return survey


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


def skip_reason(session: Session, account: Account, ticket_id: str, email: str, now: datetime, **rules) -> str | None:
    """The reason `skip_rules` gives (None: survey), read on its own."""
    expression, params = skip_rules(account, ticket_id, email, now, **rules)
    return session.scalar(select(expression), params)


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


_ACTIVE = bindparam("active_statuses", (SCHEDULED, SENT), expanding=True, literal_execute=True)
_SCHEDULED = literal(SCHEDULED, literal_execute=True)


@functools.cache
def _rules(throttled: bool, by_email: bool, by_phone: bool) -> ColumnElement:
    """COALESCE(decided without the database, unsubscribed / already_scheduled / throttled, not_sampled, the
    helpdesk's reason): first match wins. Built once per shape; only its parameters change between webhooks."""
    # The status constants are written into the SQL (literal_execute) so that the planner matches them to the
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
    database = case(*((exists(query), literal(name, Text())) for name, query in checks), else_=null())
    return func.coalesce(
        bindparam("decided", type_=Text()),
        database,
        bindparam("not_sampled", type_=Text()),
        bindparam("helpdesk_reason", type_=Text()),
    )


_SURVEY_COLUMNS = (
    "account_id", "event_id", "ticket_id", "ticket_subject", "ticket_url", "requester_email", "requester_name",
    "requester_phone", "locale", "agent_id", "agent_email", "agent_name", "brand", "team", "scale", "channel",
    "scheduled_at", "created_at", "sent_at", "attempts", "message_id",
)  # fmt: skip


@functools.cache
def _insert_survey(rules: ColumnElement) -> Insert:
    """INSERT INTO surveys ... SELECT the values, 'scheduled' or 'skipped', and the reason the rules give."""
    table = Survey.__table__
    # OFFSET 0: the subquery stays one (PostgreSQL would otherwise inline it and run every check twice, once for
    # the status and once for the reason).
    decided = select(rules.label("reason")).offset(0).subquery("decided")
    status = case((decided.c.reason.is_(None), literal(SCHEDULED, Text())), else_=literal(SKIPPED, Text()))
    values = select(*(bindparam(name, type_=table.c[name].type) for name in _SURVEY_COLUMNS), status, decided.c.reason)
    return (
        insert(table)
        .from_select([*_SURVEY_COLUMNS, "status", "reason"], values)
        .returning(table.c.id, table.c.status, table.c.reason)
    )


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
