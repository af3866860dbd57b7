"""People who sign in to /admin: creating one (or inviting them), scrypt-hashed passwords, sign-in. No Flask."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from plugin.admin.roles import ROLES
from plugin.models import Account, AdminUser

MIN_PASSWORD_CHARS = 12
HASH_METHOD = "scrypt"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
UNUSABLE_PASSWORD = "!invited:"  # not a werkzeug hash: no password matches it


@cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so a wrong email costs the same time as a wrong password. Made on
    the first such sign-in, not at import: scrypt takes 32 MB while it runs, which every process importing the app
    (a worker too) would otherwise reach once and keep as its peak."""
    return generate_password_hash(secrets.token_urlsafe(16), method=HASH_METHOD)


@dataclass(frozen=True)
class NewAdmin:
    admin: AdminUser
    generated_password: str | None  # set when no password was given; shown once


def create_admin(
    session: Session,
    account: Account,
    email: str,
    password: str | None = None,
    *,
    role: str = "admin",
    teams: tuple[str, ...] = (),
    agent_email: str | None = None,
    invited: bool = False,
) -> NewAdmin:
    """A new person of `account` who signs in to /admin; ValueError with a sentence when something cannot be used.

    `invited`: no password yet; they choose one from the invitation link (plugin.admin.people).
    """
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise ValueError(f"the role must be one of {', '.join(ROLES)}")
    teams = tuple(dict.fromkeys(t.strip() for t in teams if t.strip()))
    if role == "team_lead" and not teams:
        raise ValueError("a team lead needs at least one team (the helpdesk group's name)")
    if any(len(t) > 200 for t in teams):
        raise ValueError("a team name has at most 200 characters")
    agent_email = (agent_email or "").strip().lower() or None
    if agent_email and (not EMAIL.match(agent_email) or len(agent_email) > 320):
        raise ValueError(f"{agent_email!r} is not an email address")
    if session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None:
        raise ValueError(f"an admin with the email {email} already exists")
    generated = None
    if invited:
        password_hash = UNUSABLE_PASSWORD + secrets.token_urlsafe(16)
    else:
        if password is None:
            password = generated = secrets.token_urlsafe(18)
        check_password(password)
        password_hash = generate_password_hash(password, method=HASH_METHOD)
    admin = AdminUser(
        account_id=account.id,
        email=email,
        password_hash=password_hash,
        role=role,
        teams="\n".join(teams if role == "team_lead" else ()),
        agent_email=agent_email if role == "agent" else None,
    )
    session.add(admin)
    session.flush()
    return NewAdmin(admin, generated)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")


def authenticate(session: Session, email: str, password: str, now: datetime) -> AdminUser | None:
    """The admin whose email and password these are (and note the sign-in), else None."""
    dummy = _dummy_hash()  # made on the process's first sign-in, whichever email it names
    admin = session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
    if admin is None:
        check_password_hash(dummy, password)
        return None
    if not check_password_hash(admin.password_hash, password):
        return None
    admin.last_login_at = now
    session.flush()
    return admin


def set_password(session: Session, admin: AdminUser, password: str) -> None:
    """A new password for `admin`; every session signed in before it ends (ValueError when it is too short)."""
    check_password(password)
    admin.password_hash = generate_password_hash(password, method=HASH_METHOD)
    end_sessions(session, admin.id)


def end_sessions(session: Session, admin_id: int) -> None:
    """Every session cookie issued to this admin so far stops working (plugin.admin.auth checks the version)."""
    session.execute(
        update(AdminUser).where(AdminUser.id == admin_id).values(session_version=AdminUser.session_version + 1)
    )


def by_email(session: Session, email: str) -> AdminUser | None:
    return session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))


def admins_of(session: Session, account_id: int) -> list[AdminUser]:
    return list(session.scalars(select(AdminUser).where(AdminUser.account_id == account_id).order_by(AdminUser.id)))


INVITE_MAX_AGE_SECONDS = 7 * 24 * 3600


def invite_token(secret_key: str, admin: AdminUser) -> str:
    """A link token for `admin` to choose a password; it dies when one is set (it signs the unusable hash)."""
    return _invites(secret_key).dumps([admin.id, admin.password_hash[-16:]])


def invited_by_token(session: Session, secret_key: str, token: str) -> AdminUser | None:
    """The person a still-valid, unused invitation is for, else None."""
    try:
        admin_id, fingerprint = _invites(secret_key).loads(token, max_age=INVITE_MAX_AGE_SECONDS)
    except (BadData, ValueError, TypeError):
        return None
    admin = session.get(AdminUser, admin_id) if isinstance(admin_id, int) else None
    if admin is None or not admin.password_hash.startswith(UNUSABLE_PASSWORD):
        return None
    return admin if hmac.compare_digest(str(fingerprint), admin.password_hash[-16:]) else None


def _invites(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="admin-invite")


def people_of(session: Session, account_id: int) -> list[AdminUser]:
    return admins_of(session, account_id)
