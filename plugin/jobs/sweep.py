"""The periodic sweep: re-derive due work from the database and enqueue it under deterministic ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plugin.jobs import JobQueue
from plugin.models import Alert, Rating, Survey, WebhookDelivery, WebhookEvent, WriteBack

BATCH = 500


def due_work(session: Session, now: datetime) -> list[tuple[str, int]]:
    """Every (task, id) whose row says it is due now."""
    lookups = session.scalars(
        select(WebhookEvent.id)
        .where(
            WebhookEvent.event_json.is_not(None),
            or_(WebhookEvent.lookup_due_at.is_(None), WebhookEvent.lookup_due_at <= now),
        )
        .limit(BATCH)
    )
    surveys = session.scalars(
        select(Survey.id)
        .where(Survey.status == "scheduled", Survey.scheduled_at <= now)
        .order_by(Survey.scheduled_at)
        .limit(BATCH)
    )
    ratings = session.scalars(
        select(Rating.id)
        .where(Rating.status == "pending", Rating.settles_at <= now)
        .order_by(Rating.settles_at)
        .limit(BATCH)
    )
    write_backs = session.scalars(
        select(WriteBack.id)
        .where(WriteBack.status == "pending", WriteBack.next_attempt_at <= now)
        .order_by(WriteBack.next_attempt_at)
        .limit(BATCH)
    )
    alerts = session.scalars(
        select(Alert.id)
        .where(Alert.status == "pending", Alert.next_attempt_at <= now)
        .order_by(Alert.next_attempt_at)
        .limit(BATCH)
    )
    deliveries = session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(BATCH)
    )
    return (
        [("complete_event", i) for i in lookups]
        + [("send_survey", i) for i in surveys]
        + [("settle_rating", i) for i in ratings]
        + [("deliver_write_back", i) for i in write_backs]
        + [("send_alert", i) for i in alerts]
        + [("deliver_webhook", i) for i in deliveries]
    )


def sweep(session: Session, queue: JobQueue, now: datetime) -> int:
    """Enqueue all due work; returns how many jobs were offered (duplicates are dropped by the queue)."""
    work = due_work(session, now)
    for task, object_id in work:
        queue.enqueue(task, object_id)
    return len(work)
