"""/admin/sidebar: the admin's view of what the sidebar and signature links let in.

Held signature-link ratings with the reason (and requests refused over the cap); the per-agent sidebar links, with
a form to issue one (its URL shown once) and a button to revoke each. Routes on the admin blueprint, so sign-in and
CSRF are checked as on every admin page.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from plugin import signature_checks
from plugin.admin.views import bp
from plugin.models import Account
from plugin.services import services
from plugin.sidebar import links


@bp.get("/sidebar")
def sidebar_page():
    s = services()
    with s.db.session() as session:
        held = signature_checks.held_ratings(session, g.account.id, limit=200)
        issued = links.listing(session, g.account.id, s.clock())
        platform = session.get(Account, g.account.id).platform
    return render_template("admin/sidebar.html", held=held, links=issued, platform=platform)


@bp.post("/sidebar/links")
def issue_sidebar_link():
    s = services()
    try:
        days = int(request.form.get("days") or links.DEFAULT_DAYS)
    except ValueError:
        days = 0
    try:
        with s.db.session() as session:
            account = session.get(Account, g.account.id)
            issued = links.issue(
                session, account, request.form.get("agent_email", ""), s.clock(), days=days, lead="lead" in request.form
            )
            url = links.url(s.settings.public_url, account, issued.token)
    except links.LinkError as exc:
        flash(str(exc))
        return redirect(url_for("admin.sidebar_page"), code=303)
    # Shown once, on the page this redirect opens; only its hash is kept.
    flash(f"Sidebar link for {issued.link.agent_email} (shown once): {url}")
    return redirect(url_for("admin.sidebar_page"), code=303)


@bp.post("/sidebar/links/<int:link_id>/revoke")
def revoke_sidebar_link(link_id: int):
    s = services()
    with s.db.session() as session:
        revoked = links.revoke(session, g.account.id, s.clock(), link_id=link_id)
    flash("The link no longer opens anything." if revoked else "That link was already revoked.")
    return redirect(url_for("admin.sidebar_page"), code=303)
