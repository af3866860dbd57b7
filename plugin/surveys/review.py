"""The admin's review of marked clicks: what waits for a person, and why, in words."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import Click, Rating, Survey
from plugin.surveys import scanners


def flagged(session: Session, account_id: int, limit: int = 200) -> list[dict]:
    """Flagged ratings with every request on their survey's links and each one's reasons, newest first."""
    rows = session.execute(
        select(Rating, Survey)
        .join(Survey, Survey.id == Rating.survey_id)
        .where(Rating.account_id == account_id, Rating.status == "flagged")
        .order_by(Rating.updated_at.desc())
        .limit(limit)
    ).all()
    clicks: dict[int, list[Click]] = {}
    if rows:
        survey_ids = [survey.id for _, survey in rows]
        for click in session.scalars(select(Click).where(Click.survey_id.in_(survey_ids)).order_by(Click.id)):
            clicks.setdefault(click.survey_id, []).append(click)
    return [
        {
            "rating_id": rating.id,
            "ticket_id": survey.ticket_id,
            "ticket_url": survey.ticket_url,
            "agent_email": survey.agent_email,
            "score": rating.score,
            "reasons": _reasons(rating.reasons),
            "reasons_in_words": [scanners.describe(r) for r in _reasons(rating.reasons)],
            "clicks": [_click(c) for c in clicks.get(survey.id, [])[-50:]],  # the latest 50 requests are plenty
        }
        for rating, survey in rows
    ]


def _click(click: Click) -> dict:
    reasons = _reasons(click.reasons)
    return {
        "id": click.id,
        "kind": click.kind,
        "score": click.score,
        "at": click.at.isoformat(),
        "seconds_since_sent": click.seconds_since_sent,
        "user_agent": click.user_agent,
        "client_ip": click.client_ip,
        "reasons": reasons,
        "reasons_in_words": [scanners.describe(r) for r in reasons],
        "marked": click.kind == "click" and scanners.is_marked(reasons, click.cleared),
        "cleared": click.cleared,
        "page_signals": click.signals,
        "rendered": click.rendered_at is not None,
        "interacted": click.interacted_at is not None,
    }


def _reasons(text: str) -> list[str]:
    return [r for r in (text or "").split(",") if r and not r.startswith("restored click")]
