"""`flask --app plugin keys rotate`: every stored secret re-encrypted under the current SECRET_KEY.

Rotation, step by step (docs/security.md "Keys"): put the old key in SECRET_KEY_FALLBACKS and a new one in
SECRET_KEY, restart, run this command; once links signed with the old key no longer matter, drop it.
"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from plugin.accounts import SLACK_URL, SLACK_URL_SEALED
from plugin.models import Account, OutboundWebhook
from plugin.security import SecretBox
from plugin.services import services

keys_cli = AppGroup("keys", help="The service's keys (SECRET_KEY and SECRET_KEY_FALLBACKS).")


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the current key (and encrypt a Slack URL kept in plain text)."""
    s = services()
    counts = {"accounts": 0, "webhooks": 0, "slack_urls_encrypted": 0}
    try:
        with s.db.session() as session:
            for account in session.scalars(select(Account)):
                rotate_account(account, s.box, counts)
            for hook in session.scalars(select(OutboundWebhook)):
                hook.secret_encrypted = s.box.rotate(hook.secret_encrypted)
                counts["webhooks"] += 1
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(counts))


def rotate_account(account: Account, box: SecretBox, counts: dict[str, int]) -> None:
    account.webhook_secret_encrypted = box.rotate(account.webhook_secret_encrypted)
    account.api_token_encrypted = box.rotate(account.api_token_encrypted)
    options = dict(account.options or {})
    if options.get(SLACK_URL_SEALED):
        options[SLACK_URL_SEALED] = box.rotate(options[SLACK_URL_SEALED])
    elif options.get(SLACK_URL):  # stored before Slack URLs were encrypted
        options[SLACK_URL_SEALED] = box.encrypt(str(options.pop(SLACK_URL)).strip())
        counts["slack_urls_encrypted"] += 1
    options.pop(SLACK_URL, None)
    account.options = options
    counts["accounts"] += 1
