"""/admin routes: thin; sign-in, dashboard, CSV export, settings, parked write-backs and flagged clicks."""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from plugin import csv_export, dashboard, recovery, reports, writebacks
from plugin.admin import account_settings, auth, channel_settings, review, roles, users
from plugin.admin.login_limit import LoginLimiter
from plugin.models import Account, Rating
from plugin.services import services
from plugin.surveys import counting
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
    settings = state.app.extensions["opencsat"].settings
    state.app.extensions["opencsat_login_limiter"] = LoginLimiter(settings.redis_url or "memory://")


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
    error, status = None, 200
    if request.method == "POST":
        limiter: LoginLimiter = current_app.extensions["opencsat_login_limiter"]
        address, email = request.remote_addr or "-", request.form.get("email", "")
        wait = limiter.retry_after(address, email)
        if wait is not None:
            error = f"Too many failed sign-ins. Wait {wait} seconds and try again."
            page = render_template("admin/login.html", error=error, email=email)
            return page, 429, {"Retry-After": str(wait)}
        with services().db.session() as session:
            admin = users.authenticate(session, email, request.form.get("password", ""), services().clock())
        if admin is not None:
            auth.sign_in(admin)
            return redirect(_safe_next(request.args.get("next")), code=303)
        limiter.failed(address, email)
        error, status = "That email and password do not match an admin.", 401
    return render_template("admin/login.html", error=error, email=request.form.get("email", "")), status


@bp.post("/logout")
@allow(roles.TEAM_LEAD, roles.AGENT)
def logout():
    auth.sign_out()
    flash("You are signed out.")
    return redirect(url_for("admin.login"), code=303)


def _filters_from_request(args: dict | None = None) -> tuple[dashboard.Filters, dict[str, str]]:
    args = dict(request.args if args is None else args)
    """The filters asked for, narrowed to what the signed-in person may see."""
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
        try:
            board = dashboard.build(session, g.account.id, filters, bucket)
        except dashboard.RangeTooLarge as exc:
            errors["since"] = str(exc).capitalize() + "."
            filters, _ = _filters_from_request({})  # the default period, so the page still shows something
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
    account_id = g.account.id
    with services().db.session() as session:
        try:
            csv_export.check_size(dashboard.export_count(session, account_id, filters))
        except csv_export.TooManyRows as exc:
            abort(400, str(exc).capitalize() + ".")

    def page(after: int) -> list[dict]:
        with services().db.session() as session:
            return dashboard.export_rows(session, account_id, filters, after_id=after, limit=csv_export.BATCH)

    return Response(
        # A UTF-8 byte-order mark first: Excel then reads the file as UTF-8, not the local code page.
        stream_with_context(chain(["\ufeff"], csv_export.stream(CSV_COLUMNS, page))),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=ratings.csv"},
    )


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
    s = services()
    with s.db.session() as session:
        providers = channel_settings.listed(session, s.box, g.account, s.settings.public_url)
    return render_template(
        "admin/settings.html",
        values=values,
        errors=errors,
        scales=SCALES,
        fieldsets=account_settings.FIELDSETS,
        languages=account_settings.LANGUAGE_NAMES,
        providers=providers,
        addable=channel_settings.addable(g.account),
        titles=channel_settings.TITLES,
    ), (400 if errors else 200)


@bp.get("/write-backs")
def write_backs_page():
    with services().db.session() as session:
        parked = reports.write_backs(session, g.account.id, "parked")
        failed = reports.surveys(session, g.account.id, status="failed", limit=200)
    return render_template("admin/write_backs.html", parked=parked, failed=failed)


@bp.post("/surveys/<int:survey_id>/replay")
def replay_survey(survey_id: int):
    from plugin.surveys import sending

    s = services()
    with s.db.session() as session:
        replayed = sending.replay(session, survey_id, g.account.id, s.clock())
    if replayed is None:
        abort(404, "There is no failed survey with this number.")
    s.jobs.enqueue("send_survey", survey_id)
    flash(f"Survey {survey_id} is scheduled again.")
    return redirect(url_for("admin.write_backs_page"), code=303)


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


@bp.get("/review")
def review_page():
    with services().db.session() as session:
        rows = review.flagged(session, g.account.id)
    return render_template("admin/review.html", flagged=rows)


@bp.post("/clicks/<int:click_id>/restore")
def restore_click(click_id: int):
    s = services()
    try:
        with s.db.session() as session:
            write_back = review.restore_click(session, click_id, g.account.id, s.clock())
    except counting.RatingConfirmed:
        flash("The customer confirmed this rating on the page; only they can change it.")
        return redirect(url_for("admin.review_page"), code=303)
    if write_back is None:
        abort(404, "There is no click with this number.")
    s.jobs.enqueue("deliver_write_back", write_back.id)
    flash("The click now counts; the helpdesk will be told.")
    return redirect(url_for("admin.review_page"), code=303)


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


from plugin.admin import channel_views, people_views  # noqa: E402, F401  (their routes join this blueprint)
from plugin.sidebar import admin as _sidebar_admin  # noqa: E402,F401  (its /admin/sidebar routes on this blueprint)
