"""GET/POST /unsubscribe/<token>: GET asks (scanners follow links), POST opts out (RFC 8058 one-click too)."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from plugin import i18n
from plugin.i18n import N_
from plugin.models import Account
from plugin.services import services
from plugin.surveys.unsubscribing import unsubscribe
from plugin.tokens import InvalidToken
from plugin.web.pages import show_brand

bp = Blueprint("unsubscribe", __name__)


def _read(token: str) -> tuple[int, str]:
    # The email's link names the survey's language (?lang=); it only picks the page's words, so it needs no signature.
    g.page_locale = i18n.match(request.args.get("lang")) or i18n.negotiate(request.headers.get("Accept-Language"))
    try:
        account_id, email = services().tokens.read_unsubscribe(token)
    except InvalidToken:
        abort(404, N_("This unsubscribe link is not valid."))
    with services().db.session() as session:
        account = session.get(Account, account_id)
        if account is not None:
            session.expunge(account)
            show_brand(account)
    return account_id, email


@bp.get("/unsubscribe/<token>")
def ask(token: str):
    _, email = _read(token)
    return render_template("pages/unsubscribe.html", email=email, token=token, done=False)


@bp.post("/unsubscribe/<token>")
def confirm(token: str):
    account_id, email = _read(token)
    with services().db.session() as session:
        if not unsubscribe(session, account_id, email, services().clock()):
            abort(404, N_("This unsubscribe link is not valid."))
    return render_template("pages/unsubscribe.html", email=email, token=token, done=True)
