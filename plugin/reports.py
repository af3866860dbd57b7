"""Read-side queries for the API and reports: ratings, surveys and per-agent scores. No Flask here."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin import dashboard, reasons_report
from plugin.models import Account, Rating, Survey, WriteBack
from plugin.surveys.metrics import wilson_lower_bound
from plugin.surveys.scales import get_scale, scale_for

RATING_STATUSES = ("counted", "pending", "flagged")
CHANNELS = ("email", "signature", "sms", "whatsapp", "chat")
SURVEY_STATUSES = ("scheduled", "sent", "skipped", "cancelled", "failed")


@dataclass(frozen=True)
class RatingFilters:
    ticket_id: str | None = None
    agent: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    channel: str | None = None


def ratings(
    session: Session, account_id: int, filters: RatingFilters, after_id: int = 0, limit: int = 100
) -> list[dict]:
    """Ratings oldest first, from after `after_id` (the paging cursor)."""
    query = _ratings_query(account_id, filters).where(Rating.id > after_id).order_by(Rating.id).limit(limit)
    return [
        {
            "id": rating.id,
            "ticket_id": ticket_id,
            "agent_email": rating.agent_email,
            "scale": rating.scale,
            "score": rating.score,
            "comment": rating.comment,
            "status": rating.status,
            "reasons": [r for r in rating.reasons.split(",") if r],
            "created_at": rating.created_at.isoformat(),
            "updated_at": rating.updated_at.isoformat(),
            "channel": channel,
        }
        for rating, ticket_id, channel in session.execute(query)
    ]


def count_ratings(session: Session, account_id: int, filters: RatingFilters) -> int:
    """How many ratings `ratings` would page through."""
    return session.scalar(select(func.count()).select_from(_ratings_query(account_id, filters).subquery()))


def _ratings_query(account_id: int, filters: RatingFilters):
    query = (
        select(Rating, Survey.ticket_id, Survey.channel)
        .join(Survey, Survey.id == Rating.survey_id)
        .where(Rating.account_id == account_id)
    )
    if filters.ticket_id:
        query = query.where(Survey.ticket_id == filters.ticket_id)
    if filters.agent:
        query = query.where(Rating.agent_email == filters.agent.lower())
    if filters.since:
        query = query.where(Rating.created_at >= filters.since)
    if filters.until:
        query = query.where(Rating.created_at < filters.until)
    # Unverified signature-link ratings are no one's figure: the admin sees them at /api/v1/signature-ratings.
    query = query.where(Rating.status == filters.status if filters.status else Rating.status.in_(RATING_STATUSES))
    if filters.channel:
        query = query.where(Survey.channel == filters.channel)
    return query


def surveys(
    session: Session, account_id: int, ticket_id: str | None = None, status: str | None = None, limit: int = 500
) -> list[dict]:
    query = select(Survey).where(Survey.account_id == account_id).order_by(Survey.id.desc()).limit(limit)
    if ticket_id:
        query = query.where(Survey.ticket_id == ticket_id)
    if status:
        query = query.where(Survey.status == status)
    return [
        {
            "id": survey.id,
            "ticket_id": survey.ticket_id,
            "requester_email": survey.requester_email,
            "agent_email": survey.agent_email,
            "scale": survey.scale,
            "channel": survey.channel,
            "status": survey.status,
            "reason": survey.reason,
            "attempts": survey.attempts,
            "scheduled_at": survey.scheduled_at.isoformat(),
            "sent_at": survey.sent_at.isoformat() if survey.sent_at else None,
        }
        for survey in session.scalars(query)
    ]


def agents(
    session: Session, account_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[dict]:
    """Per agent over surveys sent in the period (any channel): responses, response rate, score, Wilson bound.

    Signature-link ratings have no survey sent to divide by, so they are not in these figures (see /ratings).
    """
    sent = select(Survey.id, Survey.agent_email).where(
        Survey.account_id == account_id, Survey.status == "sent", Survey.channel != "signature"
    )
    if since:
        sent = sent.where(Survey.sent_at >= since)
    if until:
        sent = sent.where(Survey.sent_at < until)
    sent = sent.subquery()
    sent_counts = dict(session.execute(select(sent.c.agent_email, func.count()).group_by(sent.c.agent_email)).all())
    scores: dict[str | None, list[tuple[str, int, int]]] = defaultdict(list)
    grouped = (
        select(sent.c.agent_email, Rating.scale, Rating.score, func.count())
        .join(Rating, Rating.survey_id == sent.c.id)
        .where(Rating.status == "counted")
        .group_by(sent.c.agent_email, Rating.scale, Rating.score)
    )
    for agent, scale, score, count in session.execute(grouped):
        scores[agent].append((scale, score, count))
    options = session.scalar(select(Account.options).where(Account.id == account_id)) or {}
    return sorted(
        (_agent_row(agent, sent_counts.get(agent, 0), scores.get(agent, []), options) for agent in sent_counts),
        key=lambda row: (-(row["csat_lower_bound"] or -1), row["email"] or ""),
    )


def _agent_row(agent: str | None, surveys_sent: int, scored: list[tuple[str, int, int]], options=None) -> dict:
    """One agent's figures from (scale, score, count) groups of counted ratings (satisfied as the account counts)."""
    responses = sum(count for _, _, count in scored)
    satisfied = sum(count for scale, score, count in scored if score in scale_for(scale, options).satisfied)
    row = {
        "email": agent,
        "responses": responses,
        "surveys_sent": surveys_sent,
        "response_rate": round(100.0 * responses / surveys_sent, 1) if surveys_sent else None,
        "csat": round(100.0 * satisfied / responses, 1) if responses else None,
        "csat_lower_bound": round(wilson_lower_bound(satisfied, responses), 1) if responses else None,
    }
    for kind, summarise in (("nps", nps_from_counts), ("ces", mean_from_counts)):
        counts = [(score, count) for scale, score, count in scored if get_scale(scale).kind == kind]
        if counts:
            row[kind] = round(summarise(counts), 2)
    return row


def nps_from_counts(counts: list[tuple[int, int]]) -> float:
    """NPS from (score, how many) pairs."""
    total = sum(n for _, n in counts)
    return 100.0 * (sum(n for s, n in counts if s >= 9) - sum(n for s, n in counts if s <= 6)) / total


def mean_from_counts(counts: list[tuple[int, int]]) -> float:
    return sum(s * n for s, n in counts) / sum(n for _, n in counts)


def channel_rates(
    session: Session, account_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[dict]:
    """Per channel: surveys sent in the period, counted responses and the response rate."""
    sent = select(Survey.id, Survey.channel).where(
        Survey.account_id == account_id, Survey.status == "sent", Survey.channel != "signature"
    )
    if since:
        sent = sent.where(Survey.sent_at >= since)
    if until:
        sent = sent.where(Survey.sent_at < until)
    sent = sent.subquery()
    counted = func.count(Rating.id).filter(Rating.status == "counted")
    rows = session.execute(
        select(sent.c.channel, func.count(sent.c.id), counted)
        .outerjoin(Rating, Rating.survey_id == sent.c.id)
        .group_by(sent.c.channel)
        .order_by(sent.c.channel)
    )
    return [
        {"channel": channel, "surveys_sent": total, "responses": responses,
         "response_rate": round(responses / total, 4) if total else None}
        for channel, total, responses in rows
    ]  # fmt: skip


def write_backs(session: Session, account_id: int, status: str | None = None, limit: int = 200) -> list[dict]:
    query = (
        select(WriteBack, Survey.ticket_id)
        .join(Rating, Rating.id == WriteBack.rating_id)
        .join(Survey, Survey.id == Rating.survey_id)
        .where(WriteBack.account_id == account_id)
        .order_by(WriteBack.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(WriteBack.status == status)
    return [
        {
            "id": wb.id,
            "ticket_id": ticket_id,
            "version": wb.version,
            "status": wb.status,
            "attempts": wb.attempts,
            "next_attempt_at": wb.next_attempt_at.isoformat(),
            "last_error": wb.last_error,
            "delivered_at": wb.delivered_at.isoformat() if wb.delivered_at else None,
        }
        for wb, ticket_id in session.execute(query)
    ]


def teams(session: Session, account_id: int, filters: dashboard.Filters) -> list[dict]:
    """Per team, the dashboard's figures and ranking (same filters, same numbers)."""
    return [
        {key: value for key, value in row.items() if key != "name"}
        for row in dashboard.teams(session, account_id, filters)
    ]


def summary(session: Session, account_id: int, filters: dashboard.Filters, bucket: str = "week") -> dict:
    """The dashboard's totals, figures over time and distribution of scores, with the filters they answer."""
    return {
        "filters": filters.as_query(),
        "bucket": bucket,
        **dashboard.summary(session, account_id, filters, bucket),
        "reasons": reasons_report.counts(session, account_id, filters),
    }
