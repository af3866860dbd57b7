"""`flask --app plugin sidebar ...`: what to paste into each helpdesk's sidebar app, and the per-agent links."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from plugin import accounts as account_service
from plugin.models import Account
from plugin.services import services
from plugin.sidebar import links, zendesk
from plugin.sidebar.auth import shared_secret

sidebar_cli = AppGroup("sidebar", help="The helpdesk sidebar app: secrets, the Zendesk installation, agents' links.")


def _account(session, key: str) -> Account:
    account = account_service.by_key(session, key)
    if account is None:
        raise click.UsageError(f"no account with key {key!r} (see 'accounts list')")
    return account


@sidebar_cli.command("secret")
@click.option("--account", "account_key", required=True)
def sidebar_secret(account_key: str) -> None:
    """The secret key for the Help Scout dynamic app."""
    s = services()
    with s.db.session() as session:
        account = _account(session, account_key)
    click.echo(
        json.dumps({"account_key": account.key, "shared_secret": shared_secret(s.settings.secret_key, account.key)})
    )


@sidebar_cli.command("zendesk-install")
@click.option("--account", "account_key", required=True)
@click.option("--subdomain", required=True, help="acme for acme.zendesk.com (the JWT's iss).")
@click.option("--installation-id", required=True, help="The app installation's id (Admin Center > Apps).")
@click.option(
    "--public-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The app's public key (PEM): installation settings, or GET /api/v2/apps/{app_id}/public_key.pem.",
)
def sidebar_zendesk_install(account_key: str, subdomain: str, installation_id: str, public_key_file: Path) -> None:
    """Trust signed-URL JWTs from this Zendesk app installation for this account."""
    s = services()
    try:
        with s.db.session() as session:
            account = _account(session, account_key)
            if account.platform != "zendesk":
                raise click.UsageError("this account is not on Zendesk")
            issuer = f"{subdomain.strip().lower()}.zendesk.com"
            zendesk.install(session, account, issuer, installation_id, public_key_file.read_text())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        json.dumps({"account_key": account_key, "iss": issuer, "aud": zendesk.audience(issuer, installation_id)})
    )


@sidebar_cli.command("issue")
@click.option("--account", "account_key", required=True)
@click.option("--agent", "agent_email", required=True, help="The agent the link belongs to.")
@click.option("--days", type=int, default=links.DEFAULT_DAYS, show_default=True, help=f"At most {links.MAX_DAYS}.")
@click.option("--lead", is_flag=True, help="A team lead's link: also shows colleagues' and the team's figures.")
def sidebar_issue(account_key: str, agent_email: str, days: int, lead: bool) -> None:
    """A sidebar link for one agent (Freshdesk, Zammad, LiveAgent, Chatwoot, generic); their older one stops."""
    s = services()
    try:
        with s.db.session() as session:
            account = _account(session, account_key)
            issued = links.issue(session, account, agent_email, s.clock(), days=days, lead=lead)
            described = {
                **links.describe(issued.link, s.clock()),
                "url": links.url(s.settings.public_url, account, issued.token),
            }
    except links.LinkError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(described, indent=2))


@sidebar_cli.command("links")
@click.option("--account", "account_key", required=True)
def sidebar_links(account_key: str) -> None:
    """The account's sidebar links, newest first (without their tokens)."""
    s = services()
    with s.db.session() as session:
        click.echo(json.dumps(links.listing(session, _account(session, account_key).id, s.clock()), indent=2))


@sidebar_cli.command("revoke")
@click.option("--account", "account_key", required=True)
@click.option("--id", "link_id", type=int, default=None)
@click.option("--agent", "agent_email", default=None)
def sidebar_revoke(account_key: str, link_id: int | None, agent_email: str | None) -> None:
    """Stop a link (by --id) or every link of an agent (--agent) at once."""
    s = services()
    try:
        with s.db.session() as session:
            count = links.revoke(
                session, _account(session, account_key).id, s.clock(), link_id=link_id, agent_email=agent_email
            )
    except links.LinkError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps({"revoked": count}))
