"""/admin/settings/channels/<provider>: add, edit and remove the account's messaging providers. Thin routes."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError

from plugin.admin import channel_settings
from plugin.admin.views import bp
from plugin.channels import configs
from plugin.models import Account
from plugin.services import services


@bp.route("/settings/channels/<provider>", methods=["GET", "POST"])
def channel_provider_page(provider: str):
    s = services()
    if provider not in channel_settings.addable(g.account):
        abort(404, "There is no such provider for this account.")
    error, status = None, 200
    with s.db.session() as session:
        values, secrets_set = channel_settings.current(session, s.box, g.account, provider)
    editing = bool(values or secrets_set)  # set up already: the button says Save, not Add
    if request.method == "POST":
        try:
            with s.db.session() as session:
                channel_settings.save(session, s.box, session.get(Account, g.account.id), provider, request.form)
        except ValueError as exc:
            error, status = str(exc), 400  # the session rolled back: nothing stored
        except IntegrityError:  # another admin saved this provider in the same moment; theirs stands
            error, status = "this provider was just saved by someone else; reload the page to see it.", 409
        else:
            flash(f"{channel_settings.TITLES[provider]} saved.")
            return redirect(url_for("admin.settings_page", _anchor="providers"), code=303)
        values = {f.name: request.form.get(f.name, "") for f in channel_settings.fields(provider) if not f.secret}
    inbound = configs.inbound_url(s.settings.public_url, provider, g.account.key)
    return render_template(
        "admin/channel.html",
        provider=provider,
        title=channel_settings.TITLES[provider],
        fields=channel_settings.fields(provider),
        values=values,
        secrets_set=secrets_set,
        editing=editing,
        inbound_url=inbound,
        error=error,
        keep_hint=channel_settings.KEEP,
    ), status


@bp.post("/settings/channels/<provider>/remove")
def remove_channel_provider(provider: str):
    with services().db.session() as session:
        removed = provider in configs.PROVIDERS and configs.remove(
            session, session.get(Account, g.account.id), provider
        )
    if not removed:
        abort(404, "This account has no such provider.")
    flash(f"{channel_settings.TITLES[provider]} removed; surveys go out on the next channel of the order.")
    return redirect(url_for("admin.settings_page", _anchor="providers"), code=303)
