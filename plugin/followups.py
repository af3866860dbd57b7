"""What else follows each counted version of a rating, besides the write-back to the helpdesk.

Called inside the transaction that counts the rating: add rows here (alerts, outbound webhook deliveries) and let
the sweep enqueue them, so nothing is lost if a worker or Redis is away.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from plugin.models import Rating


def rating_counted(session: Session, rating: Rating, now: datetime) -> None:
    """Queue the follow-ups of a rating version that now counts (none yet)."""
