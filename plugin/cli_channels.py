"""`flask --app plugin channels add|list|remove`: an account's messaging providers (docs/channels.md)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from plugin import accounts as account_service
from plugin.channels import configs
from plugin.services import services

channels_cli = AppGroup(
    "channels",
    help="Messaging channels: SMS (Twilio, Vonage), WhatsApp (Meta or Twilio), Chatwoot in-chat "
    "(also on /admin/settings).",
)

# option name -> the config field it fills (every provider's fields; `configs.add` refuses the ones it does not take)
FIELDS = (
    "account_sid",
    "auth_token",
    "messaging_service_sid",
    "api_key",
    "api_secret",
    "signature_secret",
    "signature_method",
    "access_token",
    "app_secret",
    "verify_token",
    "template",
    "template_language",
    "api_version",
    "content_sid",
    "webhook_secret",
)


def _options(command):
    for name in reversed(FIELDS):
        command = click.option(f"--{name.replace('_', '-')}", name, default=None)(command)
    return command


@channels_cli.command("add")
@click.option("--account", "account_key", required=True)
@click.option("--provider", required=True, type=click.Choice(list(configs.PROVIDERS)))
@click.option("--api-url", default=None, help="The provider's API base (an emulator in tests).")
@click.option("--from", "sender", default="", help="Our number (E.164) or sender id (twilio, vonage, twilio-whatsapp).")
@click.option("--phone-number-id", default=None, help="WhatsApp: the business phone number's id.")
@_options
def channels_add(
    account_key: str, provider: str, api_url: str | None, sender: str, phone_number_id: str | None, **values
) -> None:
    """Set up a provider for an account (replacing its earlier setup) and print the webhook URL to give it."""
    s = services()
    try:
        with s.db.session() as session:
            account = _account(session, account_key)
            row = configs.add(
                session, s.box, account, provider, api_url=api_url, sender=phone_number_id or sender, values=values
            )
            described = configs.describe(row, account, s.settings.public_url, s.box)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except IntegrityError:  # the same provider added at the same moment elsewhere (the settings page, say)
        raise click.UsageError(f"{provider} was just set up by someone else; see 'channels list'") from None
    click.echo(json.dumps(described, indent=2))


@channels_cli.command("list")
@click.option("--account", "account_key", required=True)
def channels_list(account_key: str) -> None:
    """Print the account's providers (no secrets) and its channel order."""
    s = services()
    with s.db.session() as session:
        account = _account(session, account_key)
        rows = [
            configs.describe(row, account, s.settings.public_url, s.box) for row in configs.rows(session, account.id)
        ]
        order = configs.channel_order(account)
    click.echo(json.dumps({"channels": order, "providers": rows}, indent=2))


@channels_cli.command("remove")
@click.option("--account", "account_key", required=True)
@click.option("--provider", required=True, type=click.Choice(list(configs.PROVIDERS)))
def channels_remove(account_key: str, provider: str) -> None:
    """Remove a provider; surveys then go out on the next channel of the account's order."""
    s = services()
    with s.db.session() as session:
        removed = configs.remove(session, _account(session, account_key), provider)
    if not removed:
        raise click.UsageError(f"this account has no {provider} channel")
    click.echo(f"{provider} removed")


def _account(session, key: str):
    account = account_service.by_key(session, key)
    if account is None:
        raise click.UsageError(f"no account with key {key!r} (see 'accounts list')")
    return account


COMMANDS = (channels_cli,)
