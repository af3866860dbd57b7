"""What else follows each counted version of a rating, besides the write-back to the helpdesk.

Called inside the transaction that counts the rating: add rows here (alerts, outbound webhook deliveries) and let
the sweep enqueue them, so nothing is lost if a worker or Redis is away.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from plugin import alerts, outbound, recovery
from plugin.models import Account, Rating

log = logging.getLogger(__name__)


def rating_counted(session: Session, rating: Rating, now: datetime) -> None:
    """Queue the follow-ups of a rating version that now counts: alerts, closing the loop, outbound webhooks."""
    account = session.get(Account, rating.account_id)
    try:
        alerts.queue_alerts(session, account, rating, now)
    except ValueError:
        # A mistyped alert option must never cost the customer their rating; the log says what to fix.
        log.exception("alerts of account %s skipped: check its alert_* options", account.key)
    recovery.rating_counted(session, account, rating, now)
    outbound.queue_deliveries(session, account, rating, now)
