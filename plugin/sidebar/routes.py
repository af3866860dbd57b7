"""/sidebar/<platform>: the agent's view beside a ticket, authenticated the helpdesk's way (docs/sidebar.md).

Zendesk: Zendesk POSTs the first page with a signed-URL JWT (plugin/sidebar/zendesk.py) and gets a page that learns
the ticket from ZAF and opens /sidebar/zendesk/ticket; that answers "checking" until Zendesk's API says whether the
user may see the ticket, then 303 to a 5-minute view bound to ticket and user. Help Scout: its dynamic app POSTs
the ticket signed with the app's secret key and gets {"html": ...} back. Others: ?token=<agent's link>&ticket=<id>.
Every page carries CSP frame-ancestors for its platform (plugin/sidebar/frame.py).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request

from plugin import accounts
from plugin.models import Account
from plugin.services import services
from plugin.sidebar import links, view, zendesk
from plugin.sidebar.auth import SidebarAuthError, SidebarGrant, SidebarTokens, shared_secret, verify_helpscout
from plugin.sidebar.frame import frame_ancestors
from plugin.web import headers
from plugin.web.api import api_key_required
from plugin.web.errors import json_error

bp = Blueprint("sidebar", __name__, url_prefix="/sidebar")  # rate-limited per client address (plugin/web/limits.py)
# Help Scout's servers call for every agent of an account: a per-address limit would throttle a whole team.
helpscout_bp = Blueprint("sidebar_helpscout", __name__, url_prefix="/sidebar")
api_bp = Blueprint("sidebar_api", __name__, url_prefix="/api/v1")

LINK_PLATFORMS = ("freshdesk", "zammad", "liveagent", "chatwoot", "generic")
MAX_TICKET_CHARS = 100


def _tokens() -> SidebarTokens:
    return SidebarTokens(services().settings.secret_key)


ZAF_SDK_ORIGINS = ("https://static.zdassets.com",)  # the Zendesk Apps framework SDK the page loads


@bp.after_request
@helpscout_bp.after_request
def _frame_policy(response):
    """Only the helpdesk's own pages may frame a sidebar page; JSON and errors may be framed by no one."""
    if request.environ.get("opencsat.framing_decided"):  # the view chose with headers.allow_framing
        return response
    platform = g.get("sidebar_platform")
    value = frame_ancestors(platform, g.get("sidebar_api_url")) if platform else "'none'"
    # The whole policy of every page (plugin/web/headers.py), with this platform's framers and Zendesk's app SDK.
    response.headers["Content-Security-Policy"] = headers.policy(headers.csp_nonce(), value, ZAF_SDK_ORIGINS)
    response.headers.pop("X-Frame-Options", None)
    return response


def _framed_by(account: Account | None, platform: str | None = None) -> None:
    """Frame-ancestors for this platform (known from the route even before the request is authenticated)."""
    g.sidebar_platform = account.platform if account else platform
    g.sidebar_api_url = account.api_url if account else None


def _unauthorised(message: str, status: int = 401):
    return render_template("sidebar/message.html", title="Not signed", message=message), status


def _ticket(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if value and len(value) <= MAX_TICKET_CHARS else None


# --- Zendesk -------------------------------------------------------------------------------------------------------


@bp.get("/zendesk")
def zendesk_view():
    """The panels, for the ticket and user a view token names."""
    s = services()
    _framed_by(None, "zendesk")
    try:
        grant = _tokens().read_view_token(request.args.get("v", ""), s.clock())
    except SidebarAuthError as exc:
        return _unauthorised(str(exc))
    return _render(grant, "zendesk")


@bp.post("/zendesk")
def zendesk_signed():
    """Zendesk's signed first request (form field `token`): check it, spend it, answer the page that asks ZAF."""
    s = services()
    _framed_by(None, "zendesk")
    try:
        with s.db.session() as session:
            viewer = zendesk.verify(session, request.form.get("token", ""), s.clock())
            _framed_by(accounts.by_key(session, viewer.account_key))
    except SidebarAuthError as exc:
        return _unauthorised(str(exc))
    token = _tokens().viewer_token(viewer.account_key, viewer.user_id, s.clock())
    return render_template("sidebar/zendesk_boot.html", viewer=token)


@bp.get("/zendesk/ticket")
def zendesk_ticket():
    """May this user see this ticket? 303 to the view when Zendesk said yes; 202 while we ask; 403 when not."""
    s = services()
    _framed_by(None, "zendesk")
    ticket = _ticket(request.args.get("ticket"))
    try:
        account_key, user_id = _tokens().read_viewer_token(request.args.get("viewer", ""), s.clock())
    except SidebarAuthError as exc:
        return _unauthorised(str(exc))
    if ticket is None:
        return _unauthorised("the page sent no ticket id", 400)
    with s.db.session() as session:
        account = accounts.by_key(session, account_key)
        if account is None:
            return _unauthorised("no such account")
        _framed_by(account)
        row = zendesk.access(session, account.id, user_id, ticket, s.clock())
        status, access_id, reason = row.status, row.id, row.reason
        grant = SidebarGrant(account.key, ticket, row.user_email, row.lead, user_id)
    if status == zendesk.CHECKING:
        s.jobs.enqueue("check_sidebar_access", access_id)
        return render_template("sidebar/checking.html"), 202
    if status == zendesk.DENIED:
        return _unauthorised(f"Zendesk does not let you see this ticket ({reason}).", 403)
    query = {"v": _tokens().view_token(grant, s.clock())}
    for name in ("origin", "app_guid"):  # ZAF reads them from the page's URL
        if request.args.get(name):
            query[name] = request.args[name]
    return redirect(f"/sidebar/zendesk?{urlencode(query)}", code=303)


# --- Help Scout ----------------------------------------------------------------------------------------------------


@helpscout_bp.post("/helpscout")
def helpscout_app():
    s = services()
    key = request.args.get("account", "")
    body = request.get_data()
    try:
        with s.db.session() as session:
            account = accounts.by_key(session, key) if key else None
            if account is None or account.platform != "helpscout":
                raise SidebarAuthError("no such account on this platform")
        verify_helpscout(shared_secret(s.settings.secret_key, key), request.headers.get("X-HelpScout-Signature"), body)
    except SidebarAuthError as exc:
        return json_error(401, str(exc))
    try:
        payload = json.loads(body)
    except ValueError:
        return json_error(400, "the body is not JSON")
    ticket = payload.get("ticket") if isinstance(payload, dict) else None
    if not isinstance(ticket, dict) or _ticket(str(ticket.get("id") or "")) is None:
        return json_error(400, "the body has no ticket.id (of at most 100 characters)")
    # payload["user"] is the person looking (Help Scout signs it). Assumption: its role is "owner", "admin" or
    # "user"; owners and admins see colleagues' figures, everyone else their own.
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    viewer = str(user.get("email") or "").strip().lower() or None
    lead = str(user.get("role") or "").lower() in ("owner", "admin")
    grant = SidebarGrant(key, str(ticket["id"]).strip(), viewer, lead)
    return jsonify({"html": render_template("sidebar/panels.html", **_context(grant))})


# --- per-agent links (every other platform) ----------------------------------------------------------------------


@bp.get("/<platform>")
def link_page(platform: str):
    if platform not in LINK_PLATFORMS:
        abort(404, "Unknown helpdesk platform.")
    s = services()
    _framed_by(None, platform)
    with s.db.session() as session:
        link = links.read(session, request.args.get("token", ""), s.clock())
        account = session.get(Account, link.account_id) if link else None
        if account is None or account.platform != platform:
            return _unauthorised("this sidebar link is unknown, revoked or expired; ask your admin for a new one")
        _framed_by(account)
        grant = SidebarGrant(account.key, None, link.agent_email, link.role == "lead")
    ticket = _ticket(request.args.get("ticket"))
    if ticket is None:
        # Chatwoot's dashboard app has one fixed URL; the page learns the conversation from postMessage.
        return render_template("sidebar/waiting.html", platform=platform)
    return _render(SidebarGrant(grant.account_key, ticket, grant.viewer, grant.lead), platform)


@api_bp.get("/sidebar-links")
@api_key_required
def list_links():
    s = services()
    with s.db.session() as session:
        return jsonify({"links": links.listing(session, g.account.id, s.clock())})


@api_bp.post("/sidebar-links")
@api_key_required
def issue_link():
    s = services()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_error(400, 'send {"agent_email": ..., "days": 1-30, "lead": false} as JSON')
    try:
        with s.db.session() as session:
            account = session.get(Account, g.account.id)
            issued = links.issue(
                session,
                account,
                str(body.get("agent_email") or ""),
                s.clock(),
                days=body.get("days", links.DEFAULT_DAYS),
                lead=body.get("lead") is True,
            )
            answer = {
                **links.describe(issued.link, s.clock()),
                "url": links.url(s.settings.public_url, account, issued.token),
            }
    except links.LinkError as exc:
        return json_error(400, str(exc))
    return jsonify(answer), 201


@api_bp.delete("/sidebar-links/<int:link_id>")
@api_key_required
def revoke_link(link_id: int):
    s = services()
    with s.db.session() as session:
        if not links.revoke(session, g.account.id, s.clock(), link_id=link_id):
            return json_error(404, "no live sidebar link with this id on this account")
    return jsonify({"id": link_id, "revoked": True})


# --- the panels ----------------------------------------------------------------------------------------------------


def _context(grant: SidebarGrant) -> dict:
    s = services()
    with s.db.session() as session:
        account = accounts.by_key(session, grant.account_key)
        if account is None:
            raise SidebarAuthError("no such account")
        return {
            "account": account,
            **view.panel(session, account.id, grant.ticket_id, grant.viewer, grant.lead, s.clock()),
        }


def _render(grant: SidebarGrant, platform: str):
    try:
        context = _context(grant)
    except SidebarAuthError as exc:
        return _unauthorised(str(exc))
    _framed_by(context["account"])
    return render_template("sidebar/page.html", platform=platform, **context)
