"""The periodic sweep: re-derive due work from the database and enqueue it under deterministic ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plugin import digest, retention
from plugin.db import Database
from plugin.jobs import JobQueue
from plugin.models import (
    Alert,
    ChannelMessage,
    DigestSend,
    Rating,
    SidebarAccess,
    SignatureCheck,
    SmsPart,
    Survey,
    WebhookDelivery,
    WebhookEvent,
    WriteBack,
)
from plugin.surveys import sending

BATCH = 500


# (task, the row's id, what makes it waiting, when it is due) for every kind of row-driven work.
DUE_WORK = (
    ("settle_rating", Rating.id, Rating.status == "pending", Rating.settles_at),
    ("deliver_write_back", WriteBack.id, WriteBack.status == "pending", WriteBack.next_attempt_at),
    ("send_alert", Alert.id, Alert.status == "pending", Alert.next_attempt_at),
    ("deliver_webhook", WebhookDelivery.id, WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at),
    ("verify_signature", SignatureCheck.id, SignatureCheck.status == "unverified", SignatureCheck.lookup_due_at),
    ("send_channel_message", ChannelMessage.id, ChannelMessage.status == "pending", ChannelMessage.next_attempt_at),
    ("check_sidebar_access", SidebarAccess.id, SidebarAccess.status == "checking", SidebarAccess.due_at),
    ("send_digest", DigestSend.id, DigestSend.status == "pending", DigestSend.next_attempt_at),
    ("join_sms_parts", SmsPart.id, SmsPart.status == "waiting", SmsPart.join_due_at),
)


def due_work(session: Session, now: datetime) -> list[tuple[str, int]]:
    """Every (task, id) whose row says it is due now, oldest first within each kind."""
    # Ordered as ix_webhook_events_lookup is read backwards (migration 0018), so on PostgreSQL the plan is that
    # index's scan, statistics or not: due at once (NULL) first, then the latest due.
    lookups = (
        select(WebhookEvent.id)
        .where(
            WebhookEvent.event_json.is_not(None),
            or_(WebhookEvent.lookup_due_at.is_(None), WebhookEvent.lookup_due_at <= now),
        )
        .order_by(WebhookEvent.lookup_due_at.desc().nulls_first())
    )
    work = [("complete_event", i) for i in session.scalars(lookups.limit(BATCH))]
    work += [("send_survey", i) for i in _survey_batches(session, now)]
    for task, id_column, waiting, due_at in DUE_WORK:
        ids = session.scalars(select(id_column).where(waiting, due_at <= now).order_by(due_at).limit(BATCH))
        work += [(task, i) for i in ids]
    return work


def _survey_batches(session: Session, now: datetime) -> list[int]:
    """Due surveys as send_survey jobs: one per batch of email surveys (each job claims sending.BATCH of them,
    sending.claim_due), one per survey on the other channels; at most BATCH rows looked at."""
    rows = session.execute(
        select(Survey.id, Survey.channel)
        .where(Survey.status == "scheduled", Survey.scheduled_at <= now)
        .order_by(Survey.scheduled_at)
        .limit(BATCH)
    ).all()
    emails = [i for i, channel in rows if channel == "email"]
    return emails[:: sending.BATCH] + [i for i, channel in rows if channel != "email"]


def sweep(session: Session, queue: JobQueue, now: datetime) -> int:
    """Enqueue all due work; returns how many jobs were offered (stops at the first the queue cannot take:
    Redis is away, the rows stay due, and the next sweep offers them again)."""
    digest.queue_due(session, now)  # weekly digests have no row until their hour comes: make it, then as usual
    offered = 0
    for task, object_id in due_work(session, now):
        if not queue.enqueue(task, object_id):
            break
        offered += 1
    return offered


def periodic(db: Database, queue: JobQueue, clock: Callable[[], datetime], sweep_seconds: int) -> int | None:
    """One tick of a worker's timer: sweep when it is this process's turn (one sweeper per `sweep_seconds` across
    every worker process), and prune old rows when an hour has passed. How many jobs were offered, or None
    when another process has the turn."""
    if not queue.take_turn("sweep", sweep_seconds):
        return None
    with db.session() as session:
        offered = sweep(session, queue, clock())
    prune_if_due(db, queue, clock)
    return offered


def prune_if_due(db: Database, queue: JobQueue, clock: Callable[[], datetime]) -> None:
    """The retention's prune (plugin/retention.py), at most once per PRUNE_SECONDS across every process."""
    if queue.take_turn("prune", retention.PRUNE_SECONDS):
        with db.session() as session:
            retention.prune(session, clock())
