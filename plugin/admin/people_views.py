"""/admin/people (admins invite team leads and agents), /admin/invite/<token>, /admin/preferences. Thin routes."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from plugin import i18n
from plugin.admin import auth, roles, users
from plugin.admin.account_settings import LANGUAGE_NAMES
from plugin.admin.views import allow, bp
from plugin.models import Account, AdminUser
from plugin.services import services

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@bp.route("/people", methods=["GET", "POST"])
def people_page():
    s = services()
    error, invite_link = None, None
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        try:
            with s.db.session() as session:
                created = users.create_admin(
                    session,
                    session.get(Account, g.account.id),
                    form.get("email", ""),
                    role=form.get("role", ""),
                    teams=tuple(form.get("teams", "").replace(",", "\n").splitlines()),
                    agent_email=form.get("agent_email"),
                    invited=True,
                )
                created.admin.name = form.get("name", "").strip()[:200]
                invite_link = s.settings.public_url + url_for(
                    "admin.accept_invite", token=users.invite_token(s.settings.secret_key, created.admin)
                )
        except ValueError as exc:
            error = str(exc)
    with s.db.session() as session:
        people = users.people_of(session, g.account.id)
    return render_template(
        "admin/people.html",
        people=people,
        error=error,
        form=form if error else {},
        invite_link=invite_link,
        role_labels=roles.ROLE_LABELS,
        teams_of=roles.teams_of,
    ), (400 if error else 200)


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    s = services()
    error = None
    with s.db.session() as session:
        person = users.invited_by_token(session, s.settings.secret_key, token)
        if person is None:
            abort(404, "This invitation was already used, has expired, or was not made here. Ask your admin again.")
        if request.method == "POST":
            try:
                users.set_password(session, person, request.form.get("password", ""))
            except ValueError as exc:
                error = str(exc)
            else:
                person.last_login_at = s.clock()
                session.flush()
                auth.sign_in(person)
                return redirect(url_for("admin.dashboard_page"), code=303)
        email = person.email
    return render_template("admin/invite.html", email=email, error=error), (400 if error else 200)


@bp.route("/preferences", methods=["GET", "POST"])
@allow(roles.TEAM_LEAD, roles.AGENT)
def preferences_page():
    s = services()
    errors: dict[str, str] = {}
    with s.db.session() as session:
        person = session.get(AdminUser, g.admin.id)
        if request.method == "POST":
            errors = _update_preferences(person, request.form)
            if errors:
                session.rollback()
            else:
                flash(i18n.gettext(person.locale or g.account.locale, i18n.N_("Preferences saved.")))
                return redirect(url_for("admin.preferences_page"), code=303)
        values = {
            "name": person.name,
            "locale": person.locale or "",
            "digest_weekday": "" if person.digest_weekday is None else str(person.digest_weekday),
            "digest_hour": str(person.digest_hour),
        }
    if errors:
        values.update({name: request.form.get(name, "") for name in values})
    return render_template(
        "admin/preferences.html",
        values=values,
        errors=errors,
        languages=LANGUAGE_NAMES,
        weekdays=WEEKDAYS,
        gets_digest=g.admin.role in roles.DIGEST_ROLES,
    ), (400 if errors else 200)


def _update_preferences(person: AdminUser, form) -> dict[str, str]:
    errors = {}
    person.name = form.get("name", "").strip()[:200]
    locale = form.get("locale", "").strip()
    if locale and locale not in i18n.LOCALES:
        errors["locale"] = "Choose one of the supported languages."
    person.locale = locale or None
    weekday, hour = form.get("digest_weekday", "").strip(), form.get("digest_hour", "8").strip()
    if weekday and person.role not in roles.DIGEST_ROLES:
        errors["digest_weekday"] = "The weekly digest is for admins and team leads."
    elif weekday:
        if weekday not in {str(n) for n in range(7)}:
            errors["digest_weekday"] = "Choose a day of the week."
        else:
            person.digest_weekday = int(weekday)
    else:
        person.digest_weekday = None
    if hour not in {str(n) for n in range(24)}:
        errors["digest_hour"] = "Choose an hour from 0 to 23 (UTC)."
    else:
        person.digest_hour = int(hour)
    return errors
