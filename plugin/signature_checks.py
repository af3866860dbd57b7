"""Signature-link ratings stay unverified until the helpdesk confirms the ticket exists and names the link's agent.

The agent in a signature link is signed; the ticket number is not (the helpdesk fills it in), so anyone holding one
email from an agent can type any ticket number. Such a rating is recorded like any other (plugin/surveys/counting.py)
but held: status `unverified`, out of every figure, its write-back `held`, no alerts, no outbound webhooks. It is
released, exactly once, when the helpdesk names that ticket with that agent:

- an event (solved, reopened, or any other the adapter parses) for the ticket whose assignee is the agent, before or
  after the click (every such pair is kept in ticket_agents);
- or, where the platform's API can say who holds a ticket (LOOKUP_PLATFORMS), the verify_signature job's lookup.

A forger is also bounded: at most `signature_daily_cap` (account option, default DAILY_CAP) new unverified tickets
per agent token in 24 hours; beyond it the request is refused with 429 and kept as a SignatureRefusal.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta

from sqlalchemy import CTE, Insert, bindparam, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.db import sql_constant
from plugin.events import IGNORED, TicketEvent
from plugin.models import Account, Rating, SignatureCheck, SignatureRefusal, Survey, TicketAgent, WriteBack
from plugin.retries import backoff
from plugin.surveys import counting

UNVERIFIED, VERIFIED = "unverified", "verified"
DAILY_CAP = 50
CAP_WINDOW = timedelta(hours=24)
MAX_LOOKUP_ATTEMPTS = 8
LOOKUP_LEASE = timedelta(minutes=2)
# Platforms whose adapter lookup reads a ticket by the number an agent's reply carries and returns its assignee.
# Chatwoot's lookup needs the assignee's id from the event; the others have no lookup: their events confirm.
LOOKUP_PLATFORMS = ("zendesk", "liveagent")
NOT_CONFIRMED = "the helpdesk has not confirmed that ticket {ticket} exists and is assigned to {agent}"


class OverCap(Exception):
    """Too many new unverified tickets for this agent token today."""


def daily_cap(account: Account) -> int:
    try:
        return max(0, int(str((account.options or {}).get("signature_daily_cap", DAILY_CAP))))
    except ValueError:
        return DAILY_CAP


def check_cap(session: Session, account: Account, agent_email: str, now: datetime) -> None:
    """Raise OverCap when this agent's links opened `daily_cap` tickets in the last 24 hours that are still unverified.

    Two first requests racing may both pass: the cap bounds a forger's volume, it is not a counter to the unit.
    """
    opened = session.scalar(
        select(func.count())
        .select_from(SignatureCheck)
        .where(
            SignatureCheck.account_id == account.id,
            SignatureCheck.agent_email == agent_email,
            SignatureCheck.status == UNVERIFIED,
            SignatureCheck.created_at > now - CAP_WINDOW,
        )
    )
    if opened >= daily_cap(account):
        raise OverCap(f"more than {daily_cap(account)} unconfirmed tickets today for {agent_email}")


def refuse(
    session: Session, account: Account, agent_email: str, ticket_id: str, score: int, *, reason: str, **client
) -> None:
    session.add(
        SignatureRefusal(
            account_id=account.id,
            agent_email=agent_email,
            ticket_id=ticket_id[:100],
            score=score,
            reason=reason[:40],
            user_agent=str(client.get("user_agent", ""))[:500],
            client_ip=str(client.get("client_ip", ""))[:64],
            at=client["now"],
        )
    )


def open_check(session: Session, account: Account, survey: Survey, now: datetime) -> SignatureCheck:
    """The check of a new signature survey: verified at once if the helpdesk already named the ticket's agent."""
    check = SignatureCheck(
        survey_id=survey.id,
        account_id=account.id,
        ticket_id=survey.ticket_id,
        agent_email=survey.agent_email,
        status=UNVERIFIED,
        reason=NOT_CONFIRMED.format(ticket=survey.ticket_id, agent=survey.agent_email),
        lookup_due_at=now if account.platform in LOOKUP_PLATFORMS else None,
        created_at=now,
    )
    named_before = session.scalar(
        select(TicketAgent.id).where(
            TicketAgent.account_id == account.id,
            TicketAgent.ticket_id == survey.ticket_id,
            TicketAgent.agent_email == survey.agent_email,
        )
    ) or session.scalar(  # surveys frozen before ticket_agents was kept
        select(Survey.id).where(
            Survey.account_id == account.id,
            Survey.ticket_id == survey.ticket_id,
            Survey.agent_email == survey.agent_email,
            Survey.channel != "signature",
        )
    )
    if named_before:
        check.status, check.reason, check.verified_at, check.lookup_due_at = VERIFIED, "", now, None
    session.add(check)
    session.flush()
    return check


_HELD = select(SignatureCheck.id).where(
    SignatureCheck.account_id == bindparam("account_id"),
    SignatureCheck.ticket_id == bindparam("ticket_id"),
    SignatureCheck.agent_email == bindparam("assignee_email"),
    SignatureCheck.status == sql_constant(UNVERIFIED),
)
HELD = exists(_HELD)  # whether a rating is held for the pair: read in the same statement that records it


def pair_of(account: Account, event: TicketEvent) -> dict | None:
    """The (ticket, assignee) pair an event names, as the parameters of `record_pair` and `HELD`; None if none."""
    agent = (event.assignee.email or "").strip().lower()
    if not agent or not event.ticket_id or len(agent) > 320 or len(event.ticket_id) > 100:
        return None
    return dict(account_id=account.id, ticket_id=event.ticket_id, assignee_email=agent)


@functools.cache
def record_pair(dialect: str, new_event: CTE | None = None) -> Insert:
    """INSERT the (ticket, agent) pair unless known (parameters: `pair_of` and seen_at). With `new_event`, one row
    of a statement that also inserts the event (plugin/intake.py): the pair is recorded only if the event was new."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = TicketAgent.__table__.c
    values = select(
        bindparam("account_id", type_=columns.account_id.type),
        bindparam("ticket_id", type_=columns.ticket_id.type),
        bindparam("assignee_email", type_=columns.agent_email.type),
        bindparam("seen_at", type_=columns.seen_at.type),
    )
    if new_event is not None:
        values = values.select_from(new_event)
    return (
        insert(TicketAgent.__table__)
        .from_select(["account_id", "ticket_id", "agent_email", "seen_at"], values)
        .on_conflict_do_nothing(index_elements=["account_id", "ticket_id", "agent_email"])
    )


def confirm_pair(session: Session, pair: dict, now: datetime) -> list[WriteBack]:
    """Record the pair an event named (`pair_of`) and release any rating held for it."""
    session.execute(record_pair(session.get_bind().dialect.name), {**pair, "seen_at": now})
    return release(session, pair, now)


def release(session: Session, pair: dict, now: datetime) -> list[WriteBack]:
    """Release every rating held for this (ticket, agent) pair: the helpdesk named them together."""
    released = [verify(session, check_id, now) for check_id in session.scalars(_HELD, pair).all()]
    return [write_back for write_back in released if write_back is not None]


def verify(session: Session, check_id: int, now: datetime) -> WriteBack | None:
    """Mark the check verified (once: a conditional update) and release its held rating; its write-back, if any."""
    won = session.execute(
        update(SignatureCheck)
        .where(SignatureCheck.id == check_id, SignatureCheck.status == UNVERIFIED)
        .values(status=VERIFIED, reason="", verified_at=now, lookup_due_at=None)
    ).rowcount
    if not won:
        return None
    check = session.get(SignatureCheck, check_id, populate_existing=True)
    rating_id = session.scalar(select(Rating.id).where(Rating.survey_id == check.survey_id))
    return counting.release_held(session, rating_id, now) if rating_id else None


# --- the verify_signature job: ask the helpdesk API who holds the ticket ---------------------------------------


def claim_lookup(session: Session, check_id: int, now: datetime) -> SignatureCheck | None:
    """Take a check whose lookup is due for one attempt; None when verified, not due, or someone else has it."""
    claimed = session.execute(
        update(SignatureCheck)
        .where(
            SignatureCheck.id == check_id,
            SignatureCheck.status == UNVERIFIED,
            SignatureCheck.lookup_due_at <= now,
        )
        .values(lookup_due_at=now + LOOKUP_LEASE, lookup_attempts=SignatureCheck.lookup_attempts + 1)
    ).rowcount
    return session.get(SignatureCheck, check_id, populate_existing=True) if claimed else None


def lookup_event(check: SignatureCheck) -> TicketEvent:
    """What the adapter's lookup is given: the ticket number alone; it fills in the assignee the helpdesk holds."""
    return TicketEvent(
        kind=IGNORED, dedupe_key=f"signature-check-{check.id}", ticket_id=check.ticket_id, needs_lookup=True
    )


def lookup_answered(session: Session, check_id: int, event: TicketEvent, now: datetime) -> WriteBack | None:
    """The helpdesk's answer: verified when it names the agent; otherwise unverified for good, with why."""
    check = session.get(SignatureCheck, check_id, populate_existing=True)
    found = (event.assignee.email or "").strip().lower()
    if found and found == check.agent_email:
        return verify(session, check_id, now)
    if check.status == UNVERIFIED:
        check.lookup_due_at = None  # a later event for the ticket can still confirm it
        if found:
            check.reason = f"the helpdesk says ticket {check.ticket_id} is assigned to another agent"
        elif event.assignee.id:
            check.reason = f"the helpdesk names no email for the assignee of ticket {check.ticket_id}"
        else:
            check.reason = f"the helpdesk does not know ticket {check.ticket_id}, or it has no assignee"
    return None


def lookup_failed(session: Session, check_id: int, error: str, *, retryable: bool, now: datetime) -> str:
    check = session.get(SignatureCheck, check_id, populate_existing=True)
    if retryable and check.lookup_attempts < MAX_LOOKUP_ATTEMPTS:
        check.lookup_due_at = now + backoff(check.lookup_attempts)
        return "retrying"
    check.lookup_due_at = None
    # The helpdesk's status code only: a remote body is never shown back to the tenant (the worker's log has it).
    code = re.search(r"HTTP \d{3}", error)
    answer = code.group(0) if code else "no answer"
    check.reason = f"{NOT_CONFIRMED.format(ticket=check.ticket_id, agent=check.agent_email)} (lookup: {answer})"
    return "gave up"


# --- what the admin sees ---------------------------------------------------------------------------------------


def held_ratings(session: Session, account_id: int, limit: int = 500) -> dict[str, list[dict]]:
    """Unverified signature ratings with the reason, newest first, and the requests refused over the cap."""
    rows = session.execute(
        select(SignatureCheck, Rating)
        .outerjoin(Rating, Rating.survey_id == SignatureCheck.survey_id)
        .where(SignatureCheck.account_id == account_id, SignatureCheck.status == UNVERIFIED)
        .order_by(SignatureCheck.created_at.desc(), SignatureCheck.id.desc())
        .limit(limit)
    ).all()
    refused = session.scalars(
        select(SignatureRefusal)
        .where(SignatureRefusal.account_id == account_id)
        .order_by(SignatureRefusal.at.desc(), SignatureRefusal.id.desc())
        .limit(limit)
    ).all()
    return {
        "ratings": [
            {
                "ticket_id": check.ticket_id,
                "agent_email": check.agent_email,
                "status": check.status,
                "reason": check.reason,
                "rating_status": rating.status if rating else None,
                "score": rating.score if rating else None,
                "comment": rating.comment if rating else "",
                "created_at": check.created_at.isoformat(),
            }
            for check, rating in rows
        ],
        "refused": [
            {
                "ticket_id": r.ticket_id,
                "agent_email": r.agent_email,
                "score": r.score,
                "reason": r.reason,
                "client_ip": r.client_ip,
                "at": r.at.isoformat(),
            }
            for r in refused
        ],
    }
