"""`flask --app plugin admins ...`: people who may sign in to /admin."""

from __future__ import annotations

import json
import secrets

import click
from flask.cli import AppGroup

from plugin import accounts as account_service
from plugin.admin import roles, users
from plugin.services import services

admins_cli = AppGroup("admins", help="People who sign in to /admin.")


@admins_cli.command("create")
@click.option("--account", "account_key", required=True, help="The account key (see 'accounts list').")
@click.option("--email", required=True)
@click.option(
    "--password", default=None, help=f"At least {users.MIN_PASSWORD_CHARS} characters; generated if left out."
)
@click.option("--role", type=click.Choice(roles.ROLES), default=roles.ADMIN, show_default=True)
@click.option("--team", "teams", multiple=True, help="A team lead's team (the helpdesk group); repeat for several.")
def admins_create(account_key: str, email: str, password: str | None, role: str, teams: tuple[str, ...]) -> None:
    """Create a person who signs in to /admin and print them as JSON, with the generated password (shown once)."""
    s = services()
    try:
        with s.db.session() as session:
            account = account_service.by_key(session, account_key)
            if account is None:
                raise ValueError(f"no account with key {account_key!r} (see 'accounts list')")
            created = users.create_admin(session, account, email, password, role=role, teams=teams)
            printed = {
                "email": created.admin.email,
                "role": created.admin.role,
                "account_key": account.key,
                "login_url": _login_url(),
            }
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if created.generated_password:
        printed["password"] = created.generated_password
    click.echo(json.dumps(printed, indent=2))


@admins_cli.command("list")
@click.option("--account", "account_key", required=True)
def admins_list(account_key: str) -> None:
    """Print the account's admins as JSON (no password hashes)."""
    with services().db.session() as session:
        account = account_service.by_key(session, account_key)
        if account is None:
            raise click.UsageError(f"no account with key {account_key!r} (see 'accounts list')")
        rows = [
            {
                "email": a.email,
                "role": a.role,
                "teams": list(roles.teams_of(a)),
                "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None,
            }
            for a in users.admins_of(session, account.id)
        ]
    click.echo(json.dumps(rows, indent=2))


@admins_cli.command("set-password")
@click.option("--email", required=True)
@click.option(
    "--password", default=None, help=f"At least {users.MIN_PASSWORD_CHARS} characters; generated if left out."
)
def admins_set_password(email: str, password: str | None) -> None:
    """Give an admin a new password; every session they have open ends. Prints the generated one, once."""
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(18)
    try:
        with services().db.session() as session:
            admin = users.by_email(session, email)
            if admin is None:
                raise ValueError(f"no admin with the email {email!r}")
            users.set_password(session, admin, password)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    printed = {"email": email.strip().lower(), "sessions_ended": True}
    if generated:
        printed["password"] = generated
    click.echo(json.dumps(printed, indent=2))


def _login_url() -> str:
    return f"{services().settings.public_url}/admin/login"
