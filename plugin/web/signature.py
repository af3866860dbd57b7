"""GET /s/<agent_token>/<score>?ticket=<id>: a signature-link click becomes a click on that ticket's /r/ link.

The route finds or creates the (account, ticket, agent) survey and answers 303 to its signed rating link, where the
click is recorded like any other (scanner rules, settle window, confirmation, edit window: docs/integrity.md).
"""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, request, url_for

from plugin import i18n, signature
from plugin.i18n import N_
from plugin.models import Account
from plugin.services import services
from plugin.surveys.scales import get_scale
from plugin.tokens import InvalidToken

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
        survey = signature.survey_for(session, account, agent_email, ticket_id, locale, s.clock())
        survey_id = survey.id
    return redirect(url_for("ratings.click", token=s.tokens.rating(survey_id, score)), code=303)
