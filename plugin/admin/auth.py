"""Sign-in state and CSRF for /admin: a signed Flask session cookie and a session-bound random form token.

The cookie (signed with its own key, plugin.keys) holds the admin's id, the admin's session version when it was
issued, and the sign-in time. Every request checks all three against the database and the clock:
- signing out, or a new password, bumps the version: every cookie issued before (a captured one too) stops working;
- an idle session ends after IDLE_LIFETIME (the cookie's signed timestamp, refreshed by each request);
- any session ends ABSOLUTE_LIFETIME after its sign-in, however busy.
Cookie flags (docs/security.md): HttpOnly, SameSite=Lax, Secure whenever PUBLIC_URL is https, host-only.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, abort, g, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from plugin.admin import users
from plugin.models import Account, AdminUser
from plugin.services import services

IDLE_LIFETIME = timedelta(hours=2)
ABSOLUTE_LIFETIME = timedelta(hours=12)
CSRF_FIELD = "csrf_token"


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie session, its serializer built once per set of keys instead of on every request: Flask
    opens the session of every request, each webhook and rating click too, and building the serializer was most of
    that. The serializer holds nothing of a request, so threads may share it."""

    def __init__(self) -> None:
        self._built: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def configure(app: Flask) -> None:
    """Cookie settings: not readable by scripts, not sent on cross-site posts, https-only behind an https URL."""
    app.session_interface = _SessionCookies()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=services_public_url(app).startswith("https://"),
        PERMANENT_SESSION_LIFETIME=IDLE_LIFETIME,
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
    session["version"] = admin.session_version
    session["signed_in_at"] = int(services().clock().timestamp())
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def sign_out() -> None:
    """End this admin's sessions everywhere (not only this cookie), then this one."""
    admin_id = session.get("admin_id")
    if isinstance(admin_id, int) and _current(admin_id) is not None:
        with services().db.session() as db:
            users.end_sessions(db, admin_id)
    session.clear()


def _current(admin_id: int) -> AdminUser | None:
    """The admin this cookie is for, if it is still valid (its version and its absolute lifetime)."""
    version, signed_in_at = session.get("version"), session.get("signed_in_at")
    if not isinstance(version, int) or not isinstance(signed_in_at, int):
        return None  # a cookie from before sessions were versioned
    if services().clock().timestamp() - signed_in_at > ABSOLUTE_LIFETIME.total_seconds():
        return None
    with services().db.session() as db:
        admin = db.get(AdminUser, admin_id)
    return admin if admin is not None and admin.session_version == version else None


def load_admin() -> bool:
    """Put the signed-in admin and their account on `g`; False when nobody (still validly) is signed in."""
    admin_id = session.get("admin_id")
    if not isinstance(admin_id, int):
        return False
    admin = _current(admin_id)
    if admin is not None:
        with services().db.session() as db:
            account = db.get(Account, admin.account_id)
    if admin is None or account is None:
        session.clear()
        return False
    g.admin, g.account = admin, account
    return True
