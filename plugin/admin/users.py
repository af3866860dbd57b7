"""Admin users: creating one with a scrypt-hashed password, and checking a sign-in. No Flask."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from plugin.models import Account, AdminUser

MIN_PASSWORD_CHARS = 12
HASH_METHOD = "scrypt"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16), method=HASH_METHOD)


@dataclass(frozen=True)
class NewAdmin:
    admin: AdminUser
    generated_password: str | None  # set when no password was given; shown once


def create_admin(session: Session, account: Account, email: str, password: str | None = None) -> NewAdmin:
    """A new admin of `account`; ValueError with a sentence when the email or password cannot be used."""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"{email!r} is not an email address")
    if session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None:
        raise ValueError(f"an admin with the email {email} already exists")
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(18)
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    admin = AdminUser(
        account_id=account.id, email=email, password_hash=generate_password_hash(password, method=HASH_METHOD)
    )
    session.add(admin)
    session.flush()
    return NewAdmin(admin, generated)


def authenticate(session: Session, email: str, password: str, now: datetime) -> AdminUser | None:
    """The admin whose email and password these are (and note the sign-in), else None."""
    admin = session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
    if admin is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(admin.password_hash, password):
        return None
    admin.last_login_at = now
    session.flush()
    return admin


def set_password(session: Session, admin: AdminUser, password: str) -> None:
    """A new password for `admin`; every session signed in before it ends (ValueError when it is too short)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
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
