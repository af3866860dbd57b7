"""GET /s/<agent_token>/<score>?ticket=<id>: a signature-link click becomes a click on that ticket's /r/ link.

The route finds or creates the (account, ticket, agent) survey and answers 303 to its signed rating link, where the
click is recorded like any other (scanner rules, settle window, confirmation, edit window: docs/integrity.md). A
rating on a ticket the helpdesk has not confirmed stays unverified (plugin/signature_checks.py); too many new such
tickets for one agent in a day answer 429. GET /api/v1/signature-ratings shows the admin what is held, and why.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, redirect, request, url_for

from plugin import i18n, signature, signature_checks
from plugin.i18n import N_
from plugin.models import Account
from plugin.services import services
from plugin.surveys.scales import get_scale
from plugin.tokens import InvalidToken
from plugin.web.api import api_key_required

bp = Blueprint("signature", __name__)


@bp.route("/s/<agent_token>/<int:score>", methods=["GET", "HEAD"])
def rate(agent_token: str, score: int):
    s = services()
    g.page_locale = i18n.negotiate(request.headers.get("Accept-Language"))
    try:
        account_id, agent_email = s.tokens.read_signature_agent(agent_token)
    except InvalidToken:
        abort(404, N_("This rating link is not valid. Please use the link from your email as it is."))
    ticket_id = signature.valid_ticket_id(request.args.get("ticket"))
    if ticket_id is None:
        abort(400, N_("This rating link has no ticket number. Please use the link from the email you received."))
    with s.db.session() as session:
        account = session.get(Account, account_id)
        if account is None or score not in get_scale(account.scale).scores:
            abort(404, N_("This survey does not exist or is no longer open."))
        locale = i18n.negotiate(request.headers.get("Accept-Language"), account.locale)
        try:
            survey_id = signature.survey_for(session, account, agent_email, ticket_id, locale, s.clock()).id
        except signature_checks.OverCap:
            # Kept as an event, then refused: a forger typing ticket numbers into one agent's link stops here.
            signature_checks.refuse(
                session,
                account,
                agent_email,
                ticket_id,
                score,
                reason="over_daily_cap",
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=request.remote_addr or "",
                now=s.clock(),
            )
            survey_id = None
    if survey_id is None:
        abort(
            429,
            N_(
                "Too many ratings through this link today for tickets we could not confirm yet. "
                "Please use the link in the survey email, or try again tomorrow."
            ),
        )
    return redirect(url_for("ratings.click", token=s.tokens.rating(survey_id, score)), code=303)


api_bp = Blueprint("signature_api", __name__, url_prefix="/api/v1")


@api_bp.get("/signature-ratings")
@api_key_required
def held_ratings():
    """The unverified signature ratings, each with why it is held, and the requests refused over the daily cap."""
    with services().db.session() as session:
        return jsonify(signature_checks.held_ratings(session, g.account.id))
