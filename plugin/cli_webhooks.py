"""`flask --app plugin webhooks|alerts|sidebar ...`: outbound webhooks, their delivery log, alerts, sidebar links."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from plugin import accounts as account_service
from plugin import alerts, outbound
from plugin.models import Account
from plugin.services import services
from plugin.sidebar.cli import sidebar_cli

webhooks_cli = AppGroup("webhooks", help="URLs that receive every rating change as signed JSON.")
alerts_cli = AppGroup("alerts", help="Slack and email alerts on bad ratings.")


def _account(session, key: str) -> Account:
    account = account_service.by_key(session, key)
    if account is None:
        raise click.UsageError(f"no account with key {key!r} (see 'accounts list')")
    return account


@webhooks_cli.command("add")
@click.option("--account", "account_key", required=True)
@click.option("--url", required=True, help="Where to POST each rating change.")
@click.option("--secret", default=None, help="Signing secret (generated when left out; shown once).")
def webhooks_add(account_key: str, url: str, secret: str | None) -> None:
    """Register a URL; prints its id and signing secret as JSON."""
    s = services()
    try:
        with s.db.session() as session:
            hook, secret = outbound.add_webhook(session, s.box, _account(session, account_key), url, secret)
            shown = outbound.describe_new(hook, secret)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(shown))


@webhooks_cli.command("list")
@click.option("--account", "account_key", required=True)
def webhooks_list(account_key: str) -> None:
    """The account's webhook URLs (secrets are not shown again)."""
    with services().db.session() as session:
        rows = outbound.webhooks(session, _account(session, account_key).id)
    click.echo(json.dumps(rows, indent=2))


@webhooks_cli.command("remove")
@click.option("--account", "account_key", required=True)
@click.argument("webhook_id", type=int)
def webhooks_remove(account_key: str, webhook_id: int) -> None:
    """Stop sending to a URL (its delivery log is kept)."""
    with services().db.session() as session:
        removed = outbound.remove_webhook(session, _account(session, account_key).id, webhook_id)
    if not removed:
        raise click.UsageError(f"no webhook {webhook_id} for this account")
    click.echo(f"webhook {webhook_id} deactivated")


@webhooks_cli.command("deliveries")
@click.option("--account", "account_key", required=True)
@click.option("--webhook", "webhook_id", type=int, default=None)
def webhooks_deliveries(account_key: str, webhook_id: int | None) -> None:
    """The delivery log, newest first: status, attempts, last response code and error."""
    with services().db.session() as session:
        rows = outbound.deliveries(session, _account(session, account_key).id, webhook_id)
    click.echo(json.dumps(rows, indent=2))


@webhooks_cli.command("replay")
@click.option("--account", "account_key", required=True)
@click.argument("delivery_id", type=int)
def webhooks_replay(account_key: str, delivery_id: int) -> None:
    """Send a failed delivery again (same body, same delivery id), with a fresh set of attempts."""
    s = services()
    with s.db.session() as session:
        replayed = outbound.replay(session, delivery_id, _account(session, account_key).id, s.clock())
    if replayed is None:
        raise click.UsageError(f"no failed delivery {delivery_id} of an active webhook for this account")
    s.jobs.enqueue("deliver_webhook", delivery_id)
    click.echo(f"delivery {delivery_id} queued again")


@alerts_cli.command("list")
@click.option("--account", "account_key", required=True)
def alerts_list(account_key: str) -> None:
    """The account's alerts, newest first."""
    with services().db.session() as session:
        rows = alerts.alerts(session, _account(session, account_key).id)
    click.echo(json.dumps(rows, indent=2))


COMMANDS = (webhooks_cli, alerts_cli, sidebar_cli)
