"""JSON API under /api/v1, authenticated with the account's API key as a Bearer token."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import wraps

from flask import Blueprint, Response, g, jsonify, request, stream_with_context, url_for

from plugin import accounts, csv_export, dashboard, reports, writebacks
from plugin.services import services
from plugin.surveys import sending
from plugin.web import openapi
from plugin.web.errors import json_error

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns
CSV_COLUMNS = (
    "ticket_id", "agent_email", "scale", "score", "comment", "status", "created_at", "updated_at", "channel",
)  # fmt: skip


class BadQuery(ValueError):
    """A query parameter that cannot be used; the message names it."""


@bp.errorhandler(BadQuery)
def bad_query(exc: BadQuery):
    return json_error(400, str(exc))


def api_key_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            response = json_error(401, "send the account's API key as 'Authorization: Bearer <api_key>'")
        else:
            with services().db.session() as session:
                g.account = accounts.by_api_key(session, key.strip())
            if g.account is not None:
                return view(*args, **kwargs)
            response = json_error(401, "unknown API key")
        response.headers["WWW-Authenticate"] = 'Bearer realm="opencsat"'
        return response

    return wrapper


def _time(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{name} must be an ISO-8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise BadQuery(f"{name} must be one of {', '.join(allowed)}")
    return value


def _int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    # ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise BadQuery(f"{name} must be a whole number from {minimum} to {maximum}")
    return int(raw)


def _filters() -> reports.RatingFilters:
    return reports.RatingFilters(
        ticket_id=request.args.get("ticket_id") or None,
        agent=request.args.get("agent") or None,
        since=_time("since"),
        until=_time("until"),
        status=_choice("status", reports.RATING_STATUSES),
        channel=_choice("channel", reports.CHANNELS),
    )


@bp.get("/ratings")
@api_key_required
def list_ratings():
    limit = _int("limit", 100, 1, 500)
    filters = _filters()
    with services().db.session() as session:
        rows = reports.ratings(session, g.account.id, filters, after_id=_int("cursor", 0, 0, MAX_ID), limit=limit)
    next_url = None
    if rows and len(rows) == limit:
        next_url = url_for("api.list_ratings", **{**request.args, "cursor": rows[-1]["id"]}, _external=False)
    return jsonify({"ratings": rows, "next": next_url})


@bp.get("/ratings.csv")
@api_key_required
def ratings_csv():
    filters, account_id = _filters(), g.account.id
    with services().db.session() as session:
        try:
            csv_export.check_size(reports.count_ratings(session, account_id, filters))
        except csv_export.TooManyRows as exc:
            raise BadQuery(str(exc)) from None

    def page(after: int) -> list[dict]:
        with services().db.session() as session:
            return reports.ratings(session, account_id, filters, after_id=after, limit=csv_export.BATCH)

    return Response(
        stream_with_context(csv_export.stream(CSV_COLUMNS, page)),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=ratings.csv"},
    )


@bp.get("/surveys")
@api_key_required
def list_surveys():
    status = _choice("status", reports.SURVEY_STATUSES)
    with services().db.session() as session:
        rows = reports.surveys(session, g.account.id, request.args.get("ticket_id") or None, status)
    return jsonify({"surveys": rows})


@bp.post("/surveys/<int:survey_id>/replay")
@api_key_required
def replay_survey(survey_id: int):
    s = services()
    with s.db.session() as session:
        survey = sending.replay(session, survey_id, g.account.id, s.clock())
    if survey is None:
        return json_error(404, "no failed survey with this id")
    s.jobs.enqueue("send_survey", survey_id)
    return jsonify({"id": survey_id, "status": survey.status}), 202


@bp.get("/agents")
@api_key_required
def list_agents():
    since, until = _time("since"), _time("until")
    with services().db.session() as session:
        rows = reports.agents(session, g.account.id, since, until)
    return jsonify({"agents": rows})


@bp.get("/channels")
@api_key_required
def list_channels():
    """Per channel: surveys sent, responses and the response rate over ?since=&until=."""
    since, until = _time("since"), _time("until")
    with services().db.session() as session:
        rows = reports.channel_rates(session, g.account.id, since, until)
    return jsonify({"channels": rows})


@bp.get("/write-backs")
@api_key_required
def list_write_backs():
    status = _choice("status", ("pending", "delivered", "parked", "superseded"))
    with services().db.session() as session:
        rows = reports.write_backs(session, g.account.id, status)
    return jsonify({"write_backs": rows})


@bp.post("/write-backs/<int:write_back_id>/replay")
@api_key_required
def replay_write_back(write_back_id: int):
    s = services()
    with s.db.session() as session:
        write_back = writebacks.replay(session, write_back_id, g.account.id, services().clock())
    if write_back is None:
        return json_error(404, "no parked write-back with this id")
    s.jobs.enqueue("deliver_write_back", write_back_id)
    return jsonify({"id": write_back_id, "status": "pending"}), 202


def _report_filters() -> dashboard.Filters:
    """The dashboard's filters (since, until, agent, team, scale, brand, language), parsed the dashboard's way."""
    filters, errors = dashboard.parse_filters(request.args)
    if errors:
        raise BadQuery("; ".join(errors.values()))
    return filters


@bp.get("/teams")
@api_key_required
def list_teams():
    filters = _report_filters()
    with services().db.session() as session:
        rows = reports.teams(session, g.account.id, filters)
    return jsonify({"teams": rows})


@bp.get("/summary")
@api_key_required
def summary():
    filters = _report_filters()
    bucket = _choice("bucket", dashboard.BUCKETS) or "week"
    with services().db.session() as session:
        try:
            return jsonify(reports.summary(session, g.account.id, filters, bucket))
        except dashboard.RangeTooLarge as exc:
            raise BadQuery(str(exc)) from None


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
