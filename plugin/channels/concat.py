"""Long inbound SMS: a message longer than one segment reaches us as several webhooks, one per part, in any order
and possibly more than once. The parts are kept in the database; the message is whole when every part is in, or
when WAIT has passed since the first part, after which the parts received are the message (a carrier may drop a
part: a comment missing a few words beats a comment lost). No Flask here.

Vonage marks each part with concat=true, concat-ref (shared by the parts of one message), concat-total and
concat-part (from 1): https://developer.vonage.com/messaging/sms/guides/inbound-sms ("Concatenated inbound
messages"), https://developer.vonage.com/use-cases/receiving-concat-sms .
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.channels.base import Reply
from plugin.models import SmsPart

# How long the first part waits for the others. Parts of one message are sent together; a part later than this
# is most likely lost, and the reply must not wait for it longer than a person waits for the follow-up.
WAIT = timedelta(minutes=5)
# A phone numbers its long messages with a small counter that comes round again: the parts of a message joined
# this long ago are retired from the group, so a new message with the same reference starts afresh.
REUSED_AFTER = timedelta(hours=1)
MAX_PARTS = 255  # the concatenation header's part count is one octet (3GPP TS 23.040, 9.2.3.24.1)


@dataclass(frozen=True)
class Part:
    """One part of a long SMS, as the provider's webhook delivered it."""

    provider_message_id: str
    their_address: str
    our_address: str
    ref: str
    number: int  # from 1
    total: int
    text: str


def take(session: Session, account_id: int, provider: str, part: Part, now: datetime) -> Reply | None:
    """Store one part; the whole message as a Reply when this part completed it, else None.

    A part of a message already joined (it came after the wait) is its own reply, so nothing is lost.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    group = _group(account_id, provider, part.their_address, part.ref)
    _lock(session, account_id, provider, part.their_address, part.ref)
    session.execute(
        update(SmsPart)
        .where(*group, SmsPart.status == "joined", SmsPart.received_at < now - REUSED_AFTER)
        .values(concat_ref=SmsPart.concat_ref + "#" + cast(SmsPart.id, String))
    )
    first_due = session.scalar(select(SmsPart.join_due_at).where(*group).order_by(SmsPart.id).limit(1))
    stored = session.scalar(
        insert(SmsPart)
        .values(
            account_id=account_id,
            provider=provider,
            their_address=part.their_address[:100],
            our_address=part.our_address[:100],
            concat_ref=part.ref[:100],
            part=part.number,
            total=part.total,
            provider_message_id=part.provider_message_id[:200],
            text=part.text,
            status="waiting",
            join_due_at=first_due or now + WAIT,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["account_id", "provider", "their_address", "concat_ref", "part"])
        .returning(SmsPart.id)
    )
    if stored is None:
        return None  # a repeated delivery: the part is already in
    parts = list(session.scalars(select(SmsPart).where(*group).order_by(SmsPart.part)))
    if any(row.status == "joined" for row in parts):
        late = session.get(SmsPart, stored)
        late.status = "joined"
        return Reply(part.provider_message_id, part.their_address, part.our_address, part.text)
    if {row.part for row in parts} >= set(range(1, part.total + 1)):
        return _join(session, parts)
    return None


def join_due(session: Session, part_id: int, now: datetime) -> tuple[int, str, Reply] | None:
    """When the wait of this part's message is over: (account id, provider, the parts received so far as one
    Reply); None when it is not due or already joined (the job may run twice)."""
    row = session.get(SmsPart, part_id)
    if row is None:
        return None
    _lock(session, row.account_id, row.provider, row.their_address, row.concat_ref)
    session.refresh(row)  # a part that came meanwhile may have completed and joined the message
    if row.status != "waiting" or row.join_due_at > now:
        return None
    group = _group(row.account_id, row.provider, row.their_address, row.concat_ref)
    parts = list(session.scalars(select(SmsPart).where(*group).order_by(SmsPart.part)))
    return row.account_id, row.provider, _join(session, parts)


def _lock(session: Session, account_id: int, provider: str, their_address: str, ref: str) -> None:
    """One transaction at a time per message, until it ends: parts come in parallel, and the one that brings the
    last part must see the others (on PostgreSQL each statement reads what is committed by then), nor may the wait's
    job join beside it. SQLite lets one writer at a time by itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    name = f"sms-parts|{account_id}|{provider}|{their_address[:100]}|{ref[:100]}".encode()
    key = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)
    session.execute(select(func.pg_advisory_xact_lock(key)))


def _group(account_id: int, provider: str, their_address: str, ref: str) -> tuple:
    return (
        SmsPart.account_id == account_id,
        SmsPart.provider == provider,
        SmsPart.their_address == their_address[:100],
        SmsPart.concat_ref == ref[:100],
    )


def _join(session: Session, parts: list[SmsPart]) -> Reply:
    """The parts in order as one reply, named by its first stored part (so joining twice counts once)."""
    first = min(parts, key=lambda row: row.id)
    session.execute(update(SmsPart).where(SmsPart.id.in_([row.id for row in parts])).values(status="joined"))
    return Reply(
        f"concat:{first.provider_message_id}",
        first.their_address,
        first.our_address,
        "".join(row.text for row in sorted(parts, key=lambda row: row.part)),
    )
