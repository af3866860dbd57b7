"""Opting out: the address is never surveyed again by that account; its unsent surveys are skipped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin.db import sql_constant
from plugin.models import Account, Survey, Unsubscribe


def unsubscribe(session: Session, account_id: int, email: str, now: datetime) -> bool:
    """Record the opt-out (idempotent); False when the account does not exist."""
    if session.get(Account, account_id) is None:
        return False
    email = email.lower()
    exists = session.scalar(
        select(Unsubscribe.id).where(Unsubscribe.account_id == account_id, Unsubscribe.email == email)
    )
    if not exists:
        session.add(Unsubscribe(account_id=account_id, email=email, created_at=now))
    session.execute(
        update(Survey)
        # The status written into the SQL: the planner matches it to ix_surveys_active_requester from the query alone.
        .where(Survey.account_id == account_id, Survey.requester_email == email)
        .where(Survey.status == sql_constant("scheduled"))
        .values(status="skipped", reason="unsubscribed")
    )
    return True
