"""What the agent sees beside a ticket: its ratings with their history, the agent's and the team's rolling scores.

One query per panel; no Flask here. Windows count surveys *sent* in the last N days, so a response rate's
numerator (counted ratings) and denominator (surveys sent) describe the same surveys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.models import Account, Click, Rating, Survey
from plugin.surveys.scales import get_scale, scale_for

WINDOWS = (7, 30, 90)
HISTORY_SHOWN = 20  # the latest clicks shown per survey; the panel says how many there were in all
HISTORY_KINDS = ("click", "confirm")
TREND_WEEKS = 12


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str  # click, confirm
    score: int
    label: str
    flagged: bool


@dataclass
class TicketRating:
    survey_id: int
    status: str  # the survey's: scheduled, sent, skipped, cancelled, failed
    sent_at: datetime | None
    agent_email: str | None
    team: str | None
    scale: str
    score: int | None = None
    max_score: int | None = None
    label: str | None = None
    rating_status: str | None = None  # counted, pending, flagged
    comment: str = ""
    updated_at: datetime | None = None
    history: list[HistoryEntry] = field(default_factory=list)  # the latest HISTORY_SHOWN, oldest first
    history_total: int = 0


@dataclass(frozen=True)
class Window:
    days: int
    sent: int
    responses: int
    satisfied: int

    @property
    def csat(self) -> float | None:
        return round(100.0 * self.satisfied / self.responses, 1) if self.responses else None

    @property
    def response_rate(self) -> float | None:
        return round(100.0 * self.responses / self.sent, 1) if self.sent else None


@dataclass(frozen=True)
class WeekPoint:
    start: datetime
    responses: int
    csat: float | None


@dataclass(frozen=True)
class Rolling:
    """Rolling CSAT of one agent or one team, and (agents only) its weekly trend."""

    who: str | None
    windows: list[Window]
    trend: list[WeekPoint]


def ticket_ratings(session: Session, account_id: int, ticket_id: str) -> list[TicketRating]:
    """Every survey of this ticket, newest first, with its rating and the last HISTORY_SHOWN clicks that made it.

    One query for the surveys and ratings, then two small ones per survey (the latest clicks, and how many there
    are): a survey with 100k clicks reads HISTORY_SHOWN rows from the clicks index, not 100k.
    """
    rows = session.execute(
        select(Survey, Rating)
        .outerjoin(Rating, Rating.survey_id == Survey.id)
        .where(Survey.account_id == account_id, Survey.ticket_id == ticket_id)
        .order_by(Survey.id.desc())
    ).all()
    found = []
    for survey, rating in rows:
        scale = get_scale(survey.scale)
        entry = TicketRating(
            survey_id=survey.id,
            status=survey.status,
            sent_at=survey.sent_at,
            agent_email=survey.agent_email,
            team=survey.team,
            scale=survey.scale,
            max_score=scale.max_score,
        )
        found.append(entry)
        if rating is None or rating.status == "unverified":
            continue  # a signature rating the helpdesk has not confirmed is in no one's view
        entry.score, entry.label = rating.score, scale.point(rating.score).label
        entry.rating_status, entry.comment, entry.updated_at = rating.status, rating.comment, rating.updated_at
        shown = (Click.survey_id == survey.id, Click.kind.in_(HISTORY_KINDS))
        latest = session.scalars(select(Click).where(*shown).order_by(Click.id.desc()).limit(HISTORY_SHOWN)).all()
        entry.history = [
            HistoryEntry(
                at=click.at,
                kind=click.kind,
                score=click.score,
                label=scale.point(click.score).label,
                flagged=bool(click.reasons),
            )
            for click in sorted(latest, key=lambda click: (click.at, click.id))
        ]
        entry.history_total = (
            len(latest)
            if len(latest) < HISTORY_SHOWN
            else session.scalar(select(func.count()).select_from(Click).where(*shown))
        )
    return found


def panel(session: Session, account_id: int, ticket_id: str, viewer: str | None, lead: bool, now: datetime) -> dict:
    """What one viewer sees beside a ticket: its ratings; their own rolling CSAT, or, for an admin or team lead,
    the ticket agent's and the team's (an agent never sees a colleague's figures)."""
    ratings = ticket_ratings(session, account_id, ticket_id)
    if lead:
        agent = next((r.agent_email for r in ratings if r.agent_email), None) or viewer
        team = next((r.team for r in ratings if r.team), None)
    else:
        agent, team = viewer, None
    agent_scores = agent_rolling(session, account_id, agent, now) if agent else None
    return {
        "ticket_id": ticket_id,
        "ratings": ratings,
        "agent": agent_scores,
        "team": team_rolling(session, account_id, team, now) if team else None,
        "trend": trend_svg_points(agent_scores.trend) if agent_scores else [],
        "trend_weeks": TREND_WEEKS,
    }


def agent_rolling(session: Session, account_id: int, agent_email: str, now: datetime) -> Rolling:
    """The agent's CSAT, responses and response rate over 7/30/90 days, and a weekly trend (one query)."""
    rows = _sent_with_ratings(session, now, Survey.account_id == account_id, Survey.agent_email == agent_email)
    options = _options(session, account_id)
    return Rolling(agent_email, _windows(rows, now, options), _trend(rows, now, options))


def team_rolling(session: Session, account_id: int, team: str, now: datetime) -> Rolling:
    """The same windows for every survey of the team (Survey.team) (one query)."""
    rows = _sent_with_ratings(session, now, Survey.account_id == account_id, Survey.team == team)
    return Rolling(team, _windows(rows, now, _options(session, account_id)), [])


def _sent_with_ratings(session: Session, now: datetime, *where) -> list[tuple[datetime, str | None, str, int | None]]:
    """(sent_at, rating status, scale, score) of every survey sent in the longest window."""
    since = now - timedelta(days=max(WINDOWS))
    query = (
        select(Survey.sent_at, Rating.status, Survey.scale, Rating.score)
        .outerjoin(Rating, Rating.survey_id == Survey.id)
        .where(*where, Survey.status == "sent", Survey.sent_at > since, Survey.sent_at <= now)
    )
    return [tuple(row) for row in session.execute(query)]


def _options(session: Session, account_id: int) -> Mapping:
    """The account's options: they decide what counts as satisfied (8 on csat10, if the account says so)."""
    account = session.get(Account, account_id)
    return (account.options if account else None) or {}


def _satisfied(scale: str, score: int, options: Mapping) -> bool:
    return score in scale_for(scale, options).satisfied


def _windows(rows, now: datetime, options: Mapping) -> list[Window]:
    windows = []
    for days in WINDOWS:
        since = now - timedelta(days=days)
        inside = [row for row in rows if row[0] > since]
        counted = [(scale, score) for _, status, scale, score in inside if status == "counted"]
        windows.append(Window(days, len(inside), len(counted), sum(_satisfied(s, v, options) for s, v in counted)))
    return windows


def _trend(rows, now: datetime, options: Mapping) -> list[WeekPoint]:
    """CSAT per week (by survey sent), oldest first; the last point is the week ending now."""
    buckets: dict[int, list[bool]] = defaultdict(list)
    for sent_at, status, scale, score in rows:
        week = int((now - sent_at).total_seconds() // (7 * 86400))
        if status == "counted" and week < TREND_WEEKS:
            buckets[week].append(_satisfied(scale, score, options))
    points = []
    for week in reversed(range(TREND_WEEKS)):
        answers = buckets.get(week, [])
        csat = round(100.0 * sum(answers) / len(answers), 1) if answers else None
        points.append(WeekPoint(now - timedelta(days=7 * (week + 1)), len(answers), csat))
    return points


def trend_svg_points(trend: list[WeekPoint], width: int = 280, height: int = 56, pad: int = 4) -> list[list[str]]:
    """Polyline segments ("x,y" strings) for the weekly CSAT; a week without answers breaks the line."""
    if not trend:
        return []
    step = (width - 2 * pad) / max(len(trend) - 1, 1)
    segments: list[list[str]] = [[]]
    for index, point in enumerate(trend):
        if point.csat is None:
            if segments[-1]:
                segments.append([])
            continue
        x = pad + index * step
        y = pad + (height - 2 * pad) * (1 - point.csat / 100.0)
        segments[-1].append(f"{x:.1f},{y:.1f}")
    return [segment for segment in segments if segment]
