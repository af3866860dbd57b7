"""Sign-in state and CSRF for /admin: a signed Flask session cookie and a session-bound random form token."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, abort, g, request, session

from plugin.models import Account, AdminUser
from plugin.services import services

SESSION_LIFETIME = timedelta(hours=12)
CSRF_FIELD = "csrf_token"


def configure(app: Flask) -> None:
    """Cookie settings: not readable by scripts, not sent on cross-site posts, https-only behind an https URL."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=services_public_url(app).startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.jinja_env.globals["csrf_token"] = csrf_token


def services_public_url(app: Flask) -> str:
    return app.extensions["opencsat"].settings.public_url


def csrf_token() -> str:
    """This session's form token, created on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def check_csrf() -> None:
    """400 unless a state-changing request carries this session's form token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent, expected = request.form.get(CSRF_FIELD, ""), session.get(CSRF_FIELD, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        abort(400, "This form has expired or did not come from this site. Go back, reload the page and try again.")


def sign_in(admin: AdminUser) -> None:
    """A fresh session for `admin` (anything from before the sign-in is dropped, the form token renewed)."""
    session.clear()
    session.permanent = True
    session["admin_id"] = admin.id
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def sign_out() -> None:
    session.clear()


def load_admin() -> bool:
    """Put the signed-in admin and their account on `g`; False when nobody (still existing) is signed in."""
    admin_id = session.get("admin_id")
    if not isinstance(admin_id, int):
        return False
    with services().db.session() as db:
        admin = db.get(AdminUser, admin_id)
        account = db.get(Account, admin.account_id) if admin else None
    if admin is None or account is None:
        session.clear()
        return False
    g.admin, g.account = admin, account
    return True
