"""GET /sidebar/<platform>: the agent's view beside a ticket, authenticated the helpdesk's way (plugin.sidebar_auth).

Zendesk: the app's page (this URL, no data) asks Zendesk's proxy for a JWT signed with the app's shared secret and
trades it at POST /sidebar/zendesk/session for a 15-minute view link. Help Scout: its dynamic app POSTs the ticket
signed with the app's secret key and gets {"html": ...} back. Others: ?token=<account token>&ticket=<id>.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, jsonify, render_template, request

from plugin import accounts
from plugin.models import Account
from plugin.services import services
from plugin.sidebar import view as sidebar
from plugin.sidebar.auth import (
    SidebarAuthError,
    SidebarGrant,
    SidebarTokens,
    shared_secret,
    verify_helpscout,
    verify_zendesk_jwt,
)
from plugin.web.errors import json_error

bp = Blueprint("sidebar", __name__, url_prefix="/sidebar")

TOKEN_PLATFORMS = ("freshdesk", "zammad", "liveagent", "chatwoot", "generic")


def _tokens() -> SidebarTokens:
    return SidebarTokens(services().settings.secret_key)


def _account(session, key: str, platform: str) -> Account:
    account = accounts.by_key(session, key) if key else None
    if account is None or account.platform != platform:
        raise SidebarAuthError("no such account on this platform")
    return account


def _unauthorised(exc: SidebarAuthError):
    return render_template("sidebar/message.html", title="Not signed", message=str(exc)), 401


@bp.get("/zendesk")
def zendesk_page():
    s = services()
    view = request.args.get("v")
    if not view:
        # The app's first page: no data, only the script that asks Zendesk's proxy for a signed JWT.
        return render_template("sidebar/zendesk_boot.html", public_url=s.settings.public_url)
    try:
        grant = _tokens().read_view_token(view, s.clock())
        return _render(grant, "zendesk")
    except SidebarAuthError as exc:
        return _unauthorised(exc)


@bp.post("/zendesk/session")
def zendesk_session():
    s = services()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise SidebarAuthError("send the ZAF JWT as 'Authorization: Bearer {{jwt.token}}'")
        key = request.args.get("account", "")
        with s.db.session() as session:
            _account(session, key, "zendesk")
        grant = verify_zendesk_jwt(token.strip(), shared_secret(s.settings.secret_key, key), key, s.clock())
    except SidebarAuthError as exc:
        return json_error(401, str(exc))
    return jsonify({"url": f"{s.settings.public_url}/sidebar/zendesk?v={_tokens().view_token(grant, s.clock())}"})


@bp.post("/helpscout")
def helpscout_app():
    s = services()
    key = request.args.get("account", "")
    body = request.get_data()
    try:
        with s.db.session() as session:
            _account(session, key, "helpscout")
        verify_helpscout(shared_secret(s.settings.secret_key, key), request.headers.get("X-HelpScout-Signature"), body)
    except SidebarAuthError as exc:
        return json_error(401, str(exc))
    try:
        payload = json.loads(body)
    except ValueError:
        return json_error(400, "the body is not JSON")
    ticket = payload.get("ticket") if isinstance(payload, dict) else None
    if not isinstance(ticket, dict) or not str(ticket.get("id") or "").strip():
        return json_error(400, "the body has no ticket.id")
    # payload["user"] is the person looking, not the agent the ticket was solved by: the survey knows that one.
    grant = SidebarGrant(key, str(ticket["id"]).strip()[:100], None)
    return jsonify({"html": _panels_html(grant)})


@bp.get("/<platform>")
def token_page(platform: str):
    if platform not in TOKEN_PLATFORMS:
        abort(404, "Unknown helpdesk platform.")
    s = services()
    try:
        key = _tokens().read_account_token(request.args.get("token", ""), s.clock())
        with s.db.session() as session:
            _account(session, key, platform)
    except SidebarAuthError as exc:
        return _unauthorised(exc)
    ticket = (request.args.get("ticket") or "").strip()
    if not ticket:
        # Chatwoot's dashboard app has one fixed URL; the page learns the conversation from postMessage.
        return render_template("sidebar/waiting.html", platform=platform)
    agent = (request.args.get("agent") or "").strip().lower() or None
    return _render(SidebarGrant(key, ticket[:100], agent), platform)


def _context(grant: SidebarGrant) -> dict:
    s = services()
    now = s.clock()
    with s.db.session() as session:
        account = accounts.by_key(session, grant.account_key)
        if account is None:
            raise SidebarAuthError("no such account")
        ratings = sidebar.ticket_ratings(session, account.id, grant.ticket_id)
        agent = grant.agent_email or next((r.agent_email for r in ratings if r.agent_email), None)
        team = next((r.team for r in ratings if r.team), None)
        agent_scores = sidebar.agent_rolling(session, account.id, agent, now) if agent else None
        team_scores = sidebar.team_rolling(session, account.id, team, now) if team else None
    return {
        "account": account,
        "ticket_id": grant.ticket_id,
        "ratings": ratings,
        "agent": agent_scores,
        "team": team_scores,
        "trend": sidebar.trend_svg_points(agent_scores.trend) if agent_scores else [],
        "trend_weeks": sidebar.TREND_WEEKS,
    }


def _render(grant: SidebarGrant, platform: str):
    try:
        context = _context(grant)
    except SidebarAuthError as exc:
        return _unauthorised(exc)
    return render_template("sidebar/page.html", platform=platform, **context)


def _panels_html(grant: SidebarGrant) -> str:
    return render_template("sidebar/panels.html", **_context(grant))
