"""Closing the loop on negative ratings: the follow-up status team leads set, the helpdesk action, the recovery rate.

A counted rating at or below the account's alert threshold (plugin.alerts: `alert_threshold`, else the scale's
default) is *negative*. It gets the follow-up status `open`; a team lead moves it to `contacted` (they reached the
customer) and `resolved` (the customer's problem is solved). The recovery rate is resolved / negative over the
surveys a report covers. When the account's `negative_action` option is `reopen` or `task`, the helpdesk is told
once per rating through the adapter's `follow_up` (a row on the alerts table, channel `helpdesk`, sent by the
worker like any alert). No Flask.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.alerts import DEFAULT_THRESHOLDS, PENDING
from plugin.models import Account, Alert, Rating

OPEN, CONTACTED, RESOLVED = "open", "contacted", "resolved"
STATES = (OPEN, CONTACTED, RESOLVED)
HELPDESK = "helpdesk"
ACTIONS = ("reopen", "task")  # the `negative_action` option; empty: nothing is done in the helpdesk


def threshold_of(account: Account, scale: str) -> int:
    """The alert threshold as plugin.alerts reads it; a mistyped one falls back to the scale's default here."""
    raw = str((account.options or {}).get("alert_threshold", "")).strip()
    return int(raw) if raw.lstrip("-").isdigit() else DEFAULT_THRESHOLDS.get(scale, 0)


def is_negative(account: Account, rating: Rating) -> bool:
    return rating.score <= threshold_of(account, rating.scale)


def action_of(account: Account) -> str | None:
    action = str((account.options or {}).get("negative_action") or "").strip().lower()
    return action if action in ACTIONS else None


def rating_counted(session: Session, account: Account, rating: Rating, now: datetime) -> None:
    """A version of the rating now counts: open its follow-up when negative, and queue the helpdesk action once."""
    if not is_negative(account, rating):
        if rating.follow_up == OPEN and rating.follow_up_by is None:
            rating.follow_up, rating.follow_up_at = None, now  # the customer changed their mind; nobody acted yet
        return
    if rating.follow_up is None:
        rating.follow_up, rating.follow_up_at = OPEN, now
    if action_of(account) is None:
        return
    done = session.scalar(select(Alert.id).where(Alert.rating_id == rating.id, Alert.channel == HELPDESK).limit(1))
    if done is None:
        session.add(
            Alert(
                rating_id=rating.id,
                account_id=account.id,
                version=rating.version,
                channel=HELPDESK,
                reason="low_score",
                status=PENDING,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.flush()


def set_follow_up(session: Session, rating: Rating, state: str, by: str, now: datetime) -> None:
    """A person moved the follow-up of a negative rating; ValueError for a state there is no such thing as."""
    if state not in STATES:
        raise ValueError(f"the follow-up must be one of {', '.join(STATES)}")
    if rating.follow_up is None:
        raise ValueError("only a negative rating has a follow-up")
    rating.follow_up, rating.follow_up_at, rating.follow_up_by = state, now, by
    session.flush()


def recovery(session: Session, account_id: int, filters) -> dict:
    """Negative ratings of the surveys a report covers, how many were contacted and resolved, and the recovery rate."""
    from sqlalchemy import func

    from plugin.dashboard import conditions
    from plugin.models import Survey

    query = (
        select(Rating.follow_up, func.count(Rating.id))
        .join(Survey, Survey.id == Rating.survey_id)
        .where(*conditions(account_id, filters), Rating.status == "counted", Rating.follow_up.is_not(None))
        .group_by(Rating.follow_up)
    )
    counts = dict(session.execute(query).all())
    negative = sum(counts.values())
    resolved = counts.get(RESOLVED, 0)
    return {
        "negative": negative,
        "open": counts.get(OPEN, 0),
        "contacted": counts.get(CONTACTED, 0),
        "resolved": resolved,
        "recovery_rate": round(100.0 * resolved / negative, 1) if negative else None,
    }


def to_follow_up(session: Session, account_id: int, filters, limit: int = 30) -> list[dict]:
    """Negative ratings not yet resolved, oldest first (the longest-waiting customer on top), with their tickets."""
    from plugin.dashboard import _rating_row, _ratings_query, account_options

    query = _ratings_query(account_id, filters).where(
        Rating.status == "counted", Rating.follow_up.in_((OPEN, CONTACTED))
    )
    query = query.order_by(Rating.created_at, Rating.id).limit(limit)
    options = account_options(session, account_id)
    return [_rating_row(row, options) for row in session.execute(query)]


def helpdesk_call(session: Session, alert: Alert, box, now: datetime):
    """What to call for a claimed `helpdesk` alert: (adapter, credentials, report, action); ValueError when the
    account no longer asks for an action or its platform cannot take one."""
    from plugin import accounts, writebacks
    from plugin.adapters import get_adapter

    account = session.get(Account, alert.account_id)
    action, adapter = action_of(account), get_adapter(account.platform)
    if action is None:
        raise ValueError("the account no longer has a negative_action")
    if not hasattr(adapter, "follow_up"):
        raise ValueError(f"{account.platform} cannot reopen tickets or add follow-up tasks")
    report = writebacks.report_for(session, session.get(Rating, alert.rating_id), now)
    return adapter, accounts.credentials(account, box), report, action
