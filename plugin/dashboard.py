"""The team lead's reports: scores over time, per agent and per team, distribution, comments, flagged clicks. No Flask.

Every figure counts surveys *sent* in the period under the filters (the response rate's denominator) and the counted
ratings of exactly those surveys (its numerator), so a score and its response rate always describe the same tickets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from plugin.models import Account, Rating, Survey
from plugin.surveys.metrics import wilson_lower_bound
from plugin.surveys.scales import SCALES, get_scale, scale_for

BUCKETS = ("day", "week", "month")
MIN_SAMPLE = 5  # agents with fewer responses are listed but not ranked: one lucky rating must not top the table
COMMENTS_SHOWN = 20
FLAGGED_SHOWN = 50
FILTER_FIELDS = ("since", "until", "agent", "team", "scale", "brand", "language")

Groups = list[tuple[str, int, int]]  # (scale, score, how many counted ratings)


@dataclass(frozen=True)
class Filters:
    """What the team lead narrowed the reports to; `until` is exclusive, times are UTC."""

    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    team: str | None = None
    scale: str | None = None
    brand: str | None = None
    language: str | None = None
    # Who is looking (plugin.admin.roles.narrow): None sees the whole account, a tuple only those teams or agents.
    within_teams: tuple[str, ...] | None = None
    within_agents: tuple[str, ...] | None = None

    def as_query(self) -> dict[str, str]:
        """The filters as query-string values (dates as YYYY-MM-DD when they fall on midnight)."""
        query = {}
        for name in FILTER_FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
            if value:
                query[name] = value
        return query


def parse_filters(args: Mapping[str, str]) -> tuple[Filters, dict[str, str]]:
    """Filters from query-string values, and an error sentence per field that could not be used (left out)."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    for name in ("since", "until"):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                errors[name] = f"{name} must be an ISO-8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z"
                continue
            values[name] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    for name in ("agent", "team", "brand", "language", "scale"):
        raw = (args.get(name) or "").strip()
        if len(raw) > 320:
            errors[name] = f"{name} is longer than 320 characters"
        elif raw:
            values[name] = raw.lower() if name == "agent" else raw
    if "scale" in values and values["scale"] not in SCALES:
        errors["scale"] = f"scale must be one of {', '.join(SCALES)}"
        del values["scale"]
    if "since" in values and "until" in values and values["until"] <= values["since"]:
        errors["until"] = "until must be later than since"
        del values["until"]
    return Filters(**values), errors


def default_period(now: datetime, days: int = 30) -> tuple[datetime, datetime]:
    """The last `days` whole days up to and including today (UTC), as [since, until)."""
    tomorrow = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    return tomorrow - timedelta(days=days), tomorrow


def conditions(account_id: int, filters: Filters) -> list[ColumnElement[bool]]:
    """The surveys a report covers: this account's, sent in the period, under the filters."""
    where = [Survey.account_id == account_id, Survey.status == "sent"]
    if filters.since:
        where.append(Survey.sent_at >= filters.since)
    if filters.until:
        where.append(Survey.sent_at < filters.until)
    for column, value in (
        (Survey.agent_email, filters.agent),
        (Survey.team, filters.team),
        (Survey.scale, filters.scale),
        (Survey.brand, filters.brand),
        (Survey.locale, filters.language),
    ):
        if value is not None:
            where.append(column == value)
    if filters.within_teams is not None:
        where.append(Survey.team.in_(filters.within_teams))
    if filters.within_agents is not None:
        where.append(func.lower(Survey.agent_email).in_(filters.within_agents))
    return where


def account_options(session: Session, account_id: int) -> Mapping:
    """The account's options, which decide what counts as satisfied (scales.scale_for); one lookup per session."""
    account = session.get(Account, account_id)
    return (account.options if account else None) or {}


def figures(surveys_sent: int, groups: Groups, options: Mapping | None = None) -> dict:
    """Responses, response rate and scores from (scale, score, count) groups of counted ratings.

    `csat` is the share of satisfied answers (the scale's satisfied points: promoters on NPS, easy on CES, 8 on
    csat10 when the account's `options` say so), the same figure /api/v1/agents ranks by; `nps` and `ces` (the
    mean) appear when such ratings exist.
    """
    responses = sum(n for _, _, n in groups)
    satisfied = sum(n for scale, score, n in groups if score in scale_for(scale, options).satisfied)
    row = {
        "surveys_sent": surveys_sent,
        "responses": responses,
        "response_rate": round(100.0 * responses / surveys_sent, 1) if surveys_sent else None,
        "satisfied": satisfied,
        "csat": round(100.0 * satisfied / responses, 1) if responses else None,
        "csat_lower_bound": round(wilson_lower_bound(satisfied, responses), 1) if responses else None,
        "nps": None,
        "nps_responses": 0,
        "ces": None,
        "ces_responses": 0,
    }
    by_kind: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for scale, score, n in groups:
        by_kind[get_scale(scale).kind].append((score, n))
    if nps_counts := by_kind.get("nps"):
        total = sum(n for _, n in nps_counts)
        promoters = sum(n for s, n in nps_counts if s >= 9)
        detractors = sum(n for s, n in nps_counts if s <= 6)
        row["nps"], row["nps_responses"] = round(100.0 * (promoters - detractors) / total, 1), total
    if ces_counts := by_kind.get("ces"):
        total = sum(n for _, n in ces_counts)
        row["ces"], row["ces_responses"] = round(sum(s * n for s, n in ces_counts) / total, 2), total
    return row


def grouped(session: Session, account_id: int, filters: Filters, *keys) -> dict[tuple, tuple[int, Groups]]:
    """One query: per value of `keys`, the surveys sent and the (scale, score, count) groups of their ratings."""
    query = (
        select(*keys, Survey.scale, Rating.score, func.count(Survey.id))
        .select_from(Survey)
        .outerjoin(Rating, and_(Rating.survey_id == Survey.id, Rating.status == "counted"))
        .where(*conditions(account_id, filters))
        .group_by(*keys, Survey.scale, Rating.score)
    )
    result: dict[tuple, list] = defaultdict(lambda: [0, []])
    for row in session.execute(query):
        key, (scale, score, count) = tuple(row[: len(keys)]), row[len(keys) :]
        result[key][0] += count
        if score is not None:
            result[key][1].append((scale, score, count))
    return {key: (sent, groups) for key, (sent, groups) in result.items()}


def _bucket_expression(session: Session, bucket: str):
    """The start of the day, ISO week (Monday) or month a survey was sent in, in SQL for this database."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    if session.get_bind().dialect.name == "postgresql":
        # A literal, not a bound parameter: PostgreSQL must see the same expression in SELECT and GROUP BY.
        return func.date_trunc(literal_column(f"'{bucket}'"), Survey.sent_at)
    if bucket == "day":
        return func.date(Survey.sent_at)
    if bucket == "week":
        return func.date(Survey.sent_at, "weekday 0", "-6 days")  # the next Sunday (or today), back to Monday
    return func.strftime("%Y-%m-01", Survey.sent_at)


def _bucket_start(value: object) -> date:
    return value.date() if isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


def _next_bucket(start: date, bucket: str) -> date:
    if bucket == "day":
        return start + timedelta(days=1)
    if bucket == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _floor(day: date, bucket: str) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if bucket == "month" else day


MAX_BUCKETS = 1000  # rows of "over time": 2.7 years by day, 19 by week, 83 by month
BUCKET_DAYS = {"day": 1, "week": 7, "month": 28}


class RangeTooLarge(ValueError):
    """The period holds more buckets than one report draws; the message says what to choose instead."""


def check_range(first: date, last: date, bucket: str) -> None:
    buckets = (last - first).days // BUCKET_DAYS[bucket] + 1
    if buckets > MAX_BUCKETS:
        raise RangeTooLarge(
            f"the period from {first.isoformat()} to {last.isoformat()} holds {buckets} {bucket} buckets, more than "
            f"the {MAX_BUCKETS} a report draws; choose a shorter period or a larger bucket (week or month)"
        )


def summary(session: Session, account_id: int, filters: Filters, bucket: str = "week") -> dict:
    """Totals, figures over time and the distribution of scores: the dashboard's top half, from one query.

    RangeTooLarge when since..until (or the data found in an open-ended period) holds more than MAX_BUCKETS buckets.
    """
    if filters.since and filters.until:
        check_range(filters.since.date(), filters.until.date(), bucket)
    found = grouped(session, account_id, filters, _bucket_expression(session, bucket))
    options = account_options(session, account_id)
    sent = sum(s for s, _ in found.values())
    merged: dict[tuple[str, int], int] = defaultdict(int)
    for _, groups in found.values():
        for scale, score, n in groups:
            merged[(scale, score)] += n
    all_groups = [(scale, score, n) for (scale, score), n in merged.items()]
    return {
        "totals": figures(sent, all_groups, options),
        "over_time": _fill(found, filters, bucket, options),
        "distribution": distribution(all_groups, options),
    }


def _fill(found: dict[tuple, tuple[int, Groups]], filters: Filters, bucket: str, options: Mapping) -> list[dict]:
    by_start = {_bucket_start(key[0]): value for key, value in found.items()}
    if not by_start:
        return []
    first = min([*by_start, *([_floor(filters.since.date(), bucket)] if filters.since else [])])
    last_day = (filters.until - timedelta(microseconds=1)).date() if filters.until else None
    last = max([*by_start, *([_floor(last_day, bucket)] if last_day else [])])
    check_range(first, last, bucket)
    rows, start = [], first
    while start <= last:
        sent, groups = by_start.get(start, (0, []))
        row = {"period": start.isoformat(), **figures(sent, groups, options)}
        row["small_sample"] = row["responses"] < MIN_SAMPLE  # shown with its count and a muted point, not a cliff
        rows.append(row)
        start = _next_bucket(start, bucket)
    return rows


def distribution(groups: Groups, options: Mapping | None = None) -> list[dict]:
    """Per scale answered, how many counted ratings each point got (zeros included), in scale order."""
    counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for scale, score, n in groups:
        counts[scale][score] += n
    return [
        {
            "scale": name,
            "points": [
                {
                    "score": p.score,
                    "label": p.label,
                    "satisfied": p.score in scale_for(name, options).satisfied,
                    "count": counts[name][p.score],
                }
                for p in get_scale(name).points
            ],
        }
        for name in SCALES
        if name in counts
    ]


def _ranked(rows: list[dict], min_sample: int) -> list[dict]:
    """Rows with at least `min_sample` responses ranked by the Wilson lower bound; the rest after them, unranked."""
    eligible = [r for r in rows if r["responses"] >= min_sample]
    eligible.sort(key=lambda r: (-r["csat_lower_bound"], -r["responses"], r["name"] or ""))
    for rank, row in enumerate(eligible, 1):
        row["rank"] = rank
    rest = [r for r in rows if r["responses"] < min_sample]
    rest.sort(key=lambda r: (-r["responses"], -r["surveys_sent"], r["name"] or ""))
    for row in rest:
        row["rank"] = None
    return eligible + rest


def agents(session: Session, account_id: int, filters: Filters, min_sample: int = MIN_SAMPLE) -> list[dict]:
    """Per agent (the assignee at solve time): figures, ranked by Wilson lower bound once they have `min_sample`."""
    found, options = grouped(session, account_id, filters, Survey.agent_email), account_options(session, account_id)
    names = agent_names(session, account_id, filters)
    rows = [
        {"name": key[0], "email": key[0], "display_name": names.get(key[0]) or key[0], **figures(sent, groups, options)}
        for key, (sent, groups) in found.items()
    ]
    return _ranked(rows, min_sample)


def agent_names(session: Session, account_id: int, filters: Filters) -> dict[str, str]:
    """The name the helpdesk gave each agent address (the latest non-empty one seen) on the surveys covered."""
    query = (
        select(Survey.agent_email, Survey.agent_name)
        .where(*conditions(account_id, filters), Survey.agent_name.is_not(None), Survey.agent_name != "")
        .group_by(Survey.agent_email, Survey.agent_name)
        .order_by(func.max(Survey.sent_at))
    )
    return {email: name for email, name in session.execute(query) if email}


def teams(session: Session, account_id: int, filters: Filters, min_sample: int = MIN_SAMPLE) -> list[dict]:
    """Per team (the helpdesk group at solve time): the same figures and ranking as agents."""
    found, options = grouped(session, account_id, filters, Survey.team), account_options(session, account_id)
    rows = [{"name": key[0], "team": key[0], **figures(sent, groups, options)} for key, (sent, groups) in found.items()]
    return _ranked(rows, min_sample)


# Columns, not entities: the lists need no ORM objects (nor the eager joins their relationships would add).
RATING_COLUMNS = (
    Rating.id,
    Survey.ticket_id,
    Survey.ticket_url,
    Survey.agent_email,
    Survey.agent_name,
    Survey.requester_name,
    Survey.requester_email,
    Survey.ticket_subject,
    Survey.channel,
    Survey.team,
    Survey.brand,
    Survey.locale.label("language"),
    Rating.scale,
    Rating.score,
    Rating.comment,
    Rating.status,
    Rating.reasons,
    Rating.follow_up,
    Survey.sent_at,
    Rating.created_at,
    Rating.updated_at,
)


def _rating_row(row, options: Mapping) -> dict:
    scale = scale_for(row.scale, options)
    return {
        "id": row.id,
        "ticket_id": row.ticket_id,
        "ticket_url": row.ticket_url,
        "agent_email": row.agent_email,
        "agent_name": row.agent_name or "",
        "customer": row.requester_name or row.requester_email,
        "subject": row.ticket_subject,
        "channel": row.channel,
        "team": row.team,
        "brand": row.brand,
        "language": row.language,
        "scale": row.scale,
        "score": row.score,
        "score_label": scale.point(row.score).label,
        "satisfied": row.score in scale.satisfied,
        "comment": row.comment,
        "status": row.status,
        "reasons": [r for r in row.reasons.split(",") if r],
        "follow_up": row.follow_up,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _ratings_query(account_id: int, filters: Filters):
    return (
        select(*RATING_COLUMNS)
        .select_from(Rating)
        .join(Survey, Survey.id == Rating.survey_id)
        .where(*conditions(account_id, filters))
        .where(Rating.account_id == account_id)
    )


def latest_comments(session: Session, account_id: int, filters: Filters, limit: int = COMMENTS_SHOWN) -> list[dict]:
    """The newest ratings with a comment, under the filters, with their ticket links."""
    query = _ratings_query(account_id, filters).where(Rating.comment != "")
    query = query.order_by(Rating.updated_at.desc(), Rating.id.desc()).limit(limit)
    options = account_options(session, account_id)
    return [_rating_row(row, options) for row in session.execute(query)]


def flagged(session: Session, account_id: int, filters: Filters, limit: int = FLAGGED_SHOWN) -> list[dict]:
    """Clicks that look like a scanner's and wait for a person (or the admin) to confirm them, newest first."""
    query = _ratings_query(account_id, filters).where(Rating.status == "flagged")
    query = query.order_by(Rating.created_at.desc(), Rating.id.desc()).limit(limit)
    options = account_options(session, account_id)
    return [_rating_row(row, options) for row in session.execute(query)]


def export_rows(
    session: Session, account_id: int, filters: Filters, after_id: int = 0, limit: int = 1000
) -> list[dict]:
    """Every rating (any status) of the surveys under the filters, oldest first, from after `after_id`."""
    query = _ratings_query(account_id, filters).where(Rating.id > after_id).order_by(Rating.id).limit(limit)
    options = account_options(session, account_id)
    return [_rating_row(row, options) for row in session.execute(query)]


def export_count(session: Session, account_id: int, filters: Filters) -> int:
    """How many rows export_rows would page through."""
    return session.scalar(select(func.count()).select_from(_ratings_query(account_id, filters).subquery()))


def options(session: Session, account_id: int, filters: Filters) -> dict[str, list[str]]:
    """The agents, teams, brands, languages and scales present in the period, for the filter menus."""
    period = Filters(
        since=filters.since,
        until=filters.until,
        within_teams=filters.within_teams,
        within_agents=filters.within_agents,
    )
    query = select(Survey.agent_email, Survey.team, Survey.brand, Survey.locale, Survey.scale).where(
        *conditions(account_id, period)
    )
    query = query.group_by(Survey.agent_email, Survey.team, Survey.brand, Survey.locale, Survey.scale)
    seen: dict[str, set[str]] = {name: set() for name in ("agent", "team", "brand", "language", "scale")}
    for row in session.execute(query):
        for name, value in zip(seen, row, strict=True):
            if value:
                seen[name].add(value)
    return {name: sorted(values) for name, values in seen.items()}


@dataclass
class Dashboard:
    """Everything the dashboard page shows, for one account under one set of filters."""

    filters: Filters
    bucket: str
    totals: dict
    over_time: list[dict]
    distribution: list[dict]
    agents: list[dict]
    teams: list[dict]
    comments: list[dict]
    flagged: list[dict]
    options: dict[str, list[str]] = field(default_factory=dict)
    min_sample: int = MIN_SAMPLE
    previous_totals: dict | None = None  # the same filters over the period before (plugin.comparison)
    totals_delta: dict = field(default_factory=dict)
    previous_days: int | None = None
    over_time_delta: list[dict] = field(default_factory=list)  # each period against the one before it
    recovery: dict = field(default_factory=dict)  # closing the loop on negative ratings (plugin.recovery)
    follow_ups: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["filters"] = self.filters.as_query()
        return data


def build(session: Session, account_id: int, filters: Filters, bucket: str = "week") -> Dashboard:
    """The whole dashboard: one query per panel, and three more for the previous period (totals, agents, teams)."""
    from plugin import comparison, recovery

    top = summary(session, account_id, filters, bucket)
    before = comparison.previous_period(filters)
    previous_totals, previous_agents, previous_teams = None, [], []
    if before is not None:
        sent, groups = grouped(session, account_id, before).get((), (0, []))
        previous_totals = figures(sent, groups, account_options(session, account_id))
        previous_agents, previous_teams = agents(session, account_id, before), teams(session, account_id, before)
    return Dashboard(
        filters=filters,
        bucket=bucket,
        totals=top["totals"],
        over_time=top["over_time"],
        over_time_delta=comparison.over_time(top["over_time"]),
        distribution=top["distribution"],
        agents=comparison.attach(agents(session, account_id, filters), previous_agents),
        teams=comparison.attach(teams(session, account_id, filters), previous_teams),
        previous_totals=previous_totals,
        totals_delta=comparison.delta(top["totals"], previous_totals),
        previous_days=comparison.period_days(filters),
        recovery=recovery.recovery(session, account_id, filters),
        follow_ups=recovery.to_follow_up(session, account_id, filters),
        comments=latest_comments(session, account_id, filters),
        flagged=flagged(session, account_id, filters),
        options=options(session, account_id, filters),
    )
