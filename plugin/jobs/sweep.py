"""The periodic sweep: re-derive due work from the database and enqueue it under deterministic ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plugin import digest
from plugin.jobs import JobQueue
from plugin.models import Alert, DigestSend, Rating, Survey, WebhookDelivery, WebhookEvent, WriteBack

BATCH = 500


# (task, the row's id, what makes it waiting, when it is due) for every kind of row-driven work.
DUE_WORK = (
    ("send_survey", Survey.id, Survey.status == "scheduled", Survey.scheduled_at),
    ("settle_rating", Rating.id, Rating.status == "pending", Rating.settles_at),
    ("deliver_write_back", WriteBack.id, WriteBack.status == "pending", WriteBack.next_attempt_at),
    ("send_alert", Alert.id, Alert.status == "pending", Alert.next_attempt_at),
    ("deliver_webhook", WebhookDelivery.id, WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at),
    ("send_digest", DigestSend.id, DigestSend.status == "pending", DigestSend.next_attempt_at),
)


def due_work(session: Session, now: datetime) -> list[tuple[str, int]]:
    """Every (task, id) whose row says it is due now, oldest first within each kind."""
    lookups = select(WebhookEvent.id).where(
        WebhookEvent.event_json.is_not(None),
        or_(WebhookEvent.lookup_due_at.is_(None), WebhookEvent.lookup_due_at <= now),
    )
    work = [("complete_event", i) for i in session.scalars(lookups.limit(BATCH))]
    for task, id_column, waiting, due_at in DUE_WORK:
        ids = session.scalars(select(id_column).where(waiting, due_at <= now).order_by(due_at).limit(BATCH))
        work += [(task, i) for i in ids]
    return work


def sweep(session: Session, queue: JobQueue, now: datetime) -> int:
    """Enqueue all due work; returns how many jobs were offered (duplicates are dropped by the queue)."""
    digest.queue_due(session, now)  # weekly digests have no row until their hour comes: make it, then as usual
    work = due_work(session, now)
    for task, object_id in work:
        queue.enqueue(task, object_id)
    return len(work)
