"""/admin routes: thin; sign-in, dashboard, CSV export, settings, parked write-backs and flagged clicks."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from plugin import dashboard, recovery, reports, writebacks
from plugin.admin import account_settings, auth, review, roles, users
from plugin.models import Account, Rating
from plugin.services import services
from plugin.surveys.scales import SCALES

bp = Blueprint("admin", __name__, url_prefix="/admin")

PUBLIC_ENDPOINTS = ("admin.login", "admin.accept_invite")
CSV_COLUMNS = (
    "ticket_id",
    "ticket_url",
    "subject",
    "customer",
    "agent_name",
    "agent_email",
    "team",
    "brand",
    "language",
    "channel",
    "scale",
    "score",
    "score_label",
    "comment",
    "status",
    "reasons",
    "follow_up",
    "sent_at",
    "created_at",
    "updated_at",
)


@bp.record_once
def _configure(state) -> None:
    auth.configure(state.app)


def allow(*other_roles: str) -> Callable:
    """Open a route to team leads and/or agents as well; a route without it is for admins only."""

    def mark(view: Callable) -> Callable:
        view.allowed_roles = frozenset((roles.ADMIN, *other_roles))
        return view

    return mark


@bp.before_request
def _guard():
    auth.check_csrf()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not auth.load_admin():
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    g.page_locale = g.admin.locale or g.account.locale  # the admin UI speaks the person's (or account's) language
    view = current_app.view_functions.get(request.endpoint)
    if g.admin.role not in getattr(view, "allowed_roles", (roles.ADMIN,)):
        abort(403, "Your role does not include this page. Ask an admin of your account.")
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    # Scripts only from this site (Chart.js is served locally); Chart.js sets inline styles on its canvas.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _safe_next(target: str | None) -> str:
    """Only a path inside /admin: never an open redirect to another site."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or target.startswith("//"):
        return url_for("admin.dashboard_page")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        with services().db.session() as session:
            admin = users.authenticate(
                session, request.form.get("email", ""), request.form.get("password", ""), services().clock()
            )
        if admin is not None:
            auth.sign_in(admin)
            return redirect(_safe_next(request.args.get("next")), code=303)
        error = "That email and password do not match an admin."
    status = 401 if error else 200
    return render_template("admin/login.html", error=error, email=request.form.get("email", "")), status


@bp.post("/logout")
@allow(roles.TEAM_LEAD, roles.AGENT)
def logout():
    auth.sign_out()
    flash("You are signed out.")
    return redirect(url_for("admin.login"), code=303)


def _filters_from_request() -> tuple[dashboard.Filters, dict[str, str]]:
    """The filters asked for, narrowed to what the signed-in person may see."""
    args = dict(request.args)
    if "since" not in args and "until" not in args:
        since, until = dashboard.default_period(services().clock())
        args.update(since=since.date().isoformat(), until=until.date().isoformat())
    filters, errors = dashboard.parse_filters(args)
    return roles.narrow(filters, g.admin), errors


@bp.get("/")
@allow(roles.TEAM_LEAD, roles.AGENT)
def dashboard_page():
    filters, errors = _filters_from_request()
    bucket = request.args.get("bucket", "week")
    if bucket not in dashboard.BUCKETS:
        errors["bucket"] = f"bucket must be one of {', '.join(dashboard.BUCKETS)}"
        bucket = "week"
    with services().db.session() as session:
        board = dashboard.build(session, g.account.id, filters, bucket)
    query = {**filters.as_query(), "bucket": bucket}
    return render_template(
        "admin/dashboard.html", board=board, errors=errors, query=query, scales=SCALES, periods=_quick_periods()
    )


def _quick_periods() -> list[tuple[str, dict[str, str]]]:
    """Links for the usual periods: last 7, 30 and 90 days, and this calendar month."""
    now = services().clock()
    links = []
    for days in (7, 30, 90):
        since, until = dashboard.default_period(now, days)
        links.append((f"Last {days} days", {"since": since.date().isoformat(), "until": until.date().isoformat()}))
    first = now.date().replace(day=1)
    following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    links.append(("This month", {"since": first.isoformat(), "until": following.isoformat()}))
    return links


@bp.get("/ratings.csv")
@allow(roles.TEAM_LEAD, roles.AGENT)
def ratings_csv():
    filters, _ = _filters_from_request()
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a UTF-8 byte-order mark: Excel then reads the file as UTF-8, not the local code page
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    after = 0
    with services().db.session() as session:
        while rows := dashboard.export_rows(session, g.account.id, filters, after_id=after):
            writer.writerows(csv_row(row) for row in rows)
            after = rows[-1]["id"]
    return Response(
        buffer.getvalue().encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=ratings.csv"},
    )


def csv_row(row: dict) -> list[str]:
    """One rating as CSV_COLUMNS cells; every cell goes through csv_cell."""
    values = {**row, "reasons": ",".join(row["reasons"])}
    return [csv_cell(values.get(name)) for name in CSV_COLUMNS]


def csv_cell(value: object) -> str:
    """One CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe (the one place to harden)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


@bp.route("/settings", methods=["GET", "POST"])
def settings_page():
    errors: dict[str, str] = {}
    values = account_settings.current(g.account)
    if request.method == "POST":
        with services().db.session() as session:
            account = session.get(Account, g.account.id)
            errors = account_settings.update(session, services().box, account, request.form)
            if errors:
                session.rollback()
        if not errors:
            flash("Settings saved.")
            return redirect(url_for("admin.settings_page"), code=303)
        values = {name: request.form.get(name, "") for name in account_settings.FIELDS}
    return render_template(
        "admin/settings.html",
        values=values,
        errors=errors,
        scales=SCALES,
        fieldsets=account_settings.FIELDSETS,
        languages=account_settings.LANGUAGE_NAMES,
    ), (400 if errors else 200)


@bp.get("/write-backs")
def write_backs_page():
    with services().db.session() as session:
        parked = reports.write_backs(session, g.account.id, "parked")
    return render_template("admin/write_backs.html", parked=parked)


@bp.post("/write-backs/<int:write_back_id>/replay")
def replay_write_back(write_back_id: int):
    s = services()
    with s.db.session() as session:
        replayed = writebacks.replay(session, write_back_id, g.account.id, s.clock())
    if replayed is None:
        abort(404, "There is no parked write-back with this number.")
    s.jobs.enqueue("deliver_write_back", write_back_id)
    flash(f"Write-back {write_back_id} is queued again.")
    return redirect(url_for("admin.write_backs_page"), code=303)


@bp.post("/flagged/<int:rating_id>/count")
@allow(roles.TEAM_LEAD)
def count_flagged(rating_id: int):
    s = services()
    with s.db.session() as session:
        rating = session.get(Rating, rating_id)
        if rating is None or not roles.may_see(g.admin, rating.survey):
            abort(404, "There is no flagged rating with this number.")
        write_back = review.count_flagged(session, rating_id, g.account.id, s.clock())
    if write_back is None:
        abort(404, "There is no flagged rating with this number.")
    s.jobs.enqueue("deliver_write_back", write_back.id)
    flash("The rating now counts; the helpdesk will be told.")
    return redirect(_safe_next(request.form.get("next")), code=303)


@bp.post("/ratings/<int:rating_id>/follow-up")
@allow(roles.TEAM_LEAD)
def set_follow_up(rating_id: int):
    s = services()
    with s.db.session() as session:
        rating = session.get(Rating, rating_id)
        if rating is None or not roles.may_see(g.admin, rating.survey):
            abort(404, "There is no rating with this number.")
        try:
            recovery.set_follow_up(session, rating, request.form.get("state", ""), g.admin.email, s.clock())
        except ValueError as exc:
            abort(400, str(exc))
    return redirect(_safe_next(request.form.get("next")), code=303)


from plugin.admin import people_views  # noqa: E402, F401  (its routes join this blueprint)
