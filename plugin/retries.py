"""Rows delivered with retries (write-backs, alerts, outbound webhooks): claim, then done, retry later, or give up.

Each such row has `status` ("pending" while there is work), `attempts`, `next_attempt_at` and `last_error`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

PENDING = "pending"
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=6)


def backoff(attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter, but never sooner than the other side's Retry-After."""
    ceiling = min(BASE_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)
    delay = ceiling * (0.5 + (rng or random).random() / 2)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def claim(session: Session, model, row_id: int, now: datetime, lease: timedelta):
    """Take a due row for one attempt, pushing its due time a lease ahead; None when not due or already taken."""
    claimed = session.execute(
        update(model)
        .where(model.id == row_id, model.status == PENDING, model.next_attempt_at <= now)
        .values(next_attempt_at=now + lease, attempts=model.attempts + 1)
    ).rowcount
    return session.get(model, row_id, populate_existing=True) if claimed else None


def retry_or_give_up(
    row, error: str, *, retryable: bool, retry_after: float | None, now: datetime, max_attempts: int, gave_up: str
) -> str:
    """After a failed attempt: due again after a backoff, or `gave_up` when retrying cannot help; the new status."""
    if not retryable or row.attempts >= max_attempts:
        row.status = gave_up
    else:
        row.next_attempt_at = now + backoff(row.attempts, retry_after)
    row.last_error = error[:2000]
    return row.status
