"""What is deleted once it is old and done with (docs/retention.md).

After RETENTION_DAYS (per account: the account option `retention_days`), `prune` deletes:
- webhook events whose work is finished (no lookup pending) and that no survey points to: events that made a
  survey stay with it, so every survey keeps the request it came from;
- outbound webhook deliveries that were delivered (failed ones stay for a person to read).

Nothing counted is touched: surveys, ratings, clicks, write-backs and alerts stay (every click is kept). A helpdesk
that re-sends an event older than the retention gets it accepted again, as new; for a solved ticket the skip
rules (already_scheduled, throttled) still apply, as for any event.
Deletes run in batches of BATCH rows, each its own transaction, so a prune never holds many locks for long.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from plugin.models import Account, Survey, WebhookDelivery, WebhookEvent

RETENTION_DAYS = 90
BATCH = 5000
MAX_BATCHES = 200  # per table and retention per run: a backlog larger than a million rows takes several runs
PRUNE_SECONDS = 3600  # the sweep prunes at most once an hour


def retention_days(options: dict | None, default: int = RETENTION_DAYS) -> int:
    """The account's retention_days option (at least 1), else the default."""
    try:
        days = int(str((options or {}).get("retention_days", default)).strip())
    except ValueError:
        return default
    return max(days, 1)


def prune(
    session: Session, now: datetime, default_days: int = RETENTION_DAYS, account_ids: list[int] | None = None
) -> dict[str, int]:
    """Delete what is past its account's retention; returns how many rows of each kind went. Commits per batch."""
    by_days: dict[int, list[int]] = defaultdict(list)
    query = select(Account.id, Account.options)
    if account_ids is not None:
        query = query.where(Account.id.in_(account_ids))
    for account_id, options in session.execute(query):
        by_days[retention_days(options, default_days)].append(account_id)
    session.rollback()
    pruned = {"webhook_events": 0, "webhook_deliveries": 0}
    for days, ids in by_days.items():
        cutoff = now - timedelta(days=days)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            pruned["webhook_events"] += _in_batches(session, lambda c=chunk, t=cutoff: _old_events(c, t))
            pruned["webhook_deliveries"] += _in_batches(session, lambda c=chunk, t=cutoff: _old_deliveries(c, t))
    return pruned


def _old_events(account_ids: list[int], cutoff: datetime):
    return (
        select(WebhookEvent.id)
        .where(
            WebhookEvent.account_id.in_(account_ids),
            WebhookEvent.received_at < cutoff,
            WebhookEvent.event_json.is_(None),
            ~exists().where(Survey.event_id == WebhookEvent.id),
        )
        .limit(BATCH),
        WebhookEvent,
    )


def _old_deliveries(account_ids: list[int], cutoff: datetime):
    return (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.account_id.in_(account_ids),
            WebhookDelivery.status == "delivered",
            WebhookDelivery.delivered_at < cutoff,
        )
        .limit(BATCH),
        WebhookDelivery,
    )


def _in_batches(session: Session, batch: Callable) -> int:
    deleted = 0
    for _ in range(MAX_BATCHES):
        ids_query, model = batch()
        ids = list(session.scalars(ids_query))
        if ids:
            # Re-checked in the DELETE itself: a survey made from this event in the meantime keeps it.
            result = session.execute(delete(model).where(model.id.in_(ids), ids_query.whereclause))
            deleted += result.rowcount
        session.commit()
        if len(ids) < BATCH:
            break
    return deleted
