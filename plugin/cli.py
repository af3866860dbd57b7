"""`flask --app plugin ...` commands: db upgrade, accounts, demo, worker, sweep, prune, write-backs."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from plugin import accounts as account_service
from plugin import reports, retention, writebacks
from plugin.jobs import LocalQueue, RQQueue
from plugin.jobs.sweep import periodic, sweep
from plugin.models import Account
from plugin.services import services

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

db_cli = AppGroup("db", help="Database schema.")
accounts_cli = AppGroup("accounts", help="Helpdesk accounts.")
surveys_cli = AppGroup("surveys", help="Survey emails: what was sent, skipped or failed, and why.")
write_backs_cli = AppGroup("write-backs", help="Ratings on their way to the helpdesk.")
clicks_cli = AppGroup("clicks", help="Review clicks marked as a mail scanner's.")


def alembic_config(database_url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, analyze: bool = True) -> None:
    """Apply every migration (SQLite and PostgreSQL alike), then, on PostgreSQL, ANALYZE: a server without
    autovacuum would otherwise plan every query without statistics (docs/benchmarks.md)."""
    from alembic import command
    from sqlalchemy import create_engine, text

    command.upgrade(alembic_config(database_url), "heads")
    if analyze and database_url.startswith("postgresql"):
        engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text("ANALYZE"))
        finally:
            engine.dispose()


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations to DATABASE_URL."""
    upgrade_database(services().settings.database_url)
    click.echo("database is up to date")


@accounts_cli.command("create")
@click.option("--platform", required=True, help="zendesk, freshdesk, helpscout, zammad, liveagent, chatwoot or generic")
@click.option("--name", required=True)
@click.option("--webhook-secret", default=None, help="Secret the helpdesk signs its webhooks with.")
@click.option(
    "--generate-webhook-secret",
    is_flag=True,
    help="Make a random webhook secret and print it (for helpdesks where you type the secret in: shown once).",
)
@click.option("--api-url", default=None, help="Helpdesk API base (or callback URL for generic).")
@click.option("--api-token", default=None)
@click.option("--api-user", default=None)
@click.option("--locale", default="en", show_default=True)
@click.option("--scale", default="csat5", show_default=True)
@click.option("--delay-minutes", type=int, default=60, show_default=True)
@click.option("--throttle-days", type=int, default=7, show_default=True)
@click.option("--settle-minutes", type=int, default=10, show_default=True)
@click.option("--edit-days", type=int, default=7, show_default=True)
@click.option(
    "--option",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="A platform setting, e.g. custom_field_id=123 (see docs/platforms/).",
)
def accounts_create(extra: tuple[str, ...], generate_webhook_secret: bool, **settings) -> None:
    """Create an account and print it as JSON, with its API key (and a generated webhook secret), shown only once."""
    s = services()
    shown = {}
    if generate_webhook_secret:
        if settings["webhook_secret"]:
            raise click.UsageError("give --webhook-secret or --generate-webhook-secret, not both")
        settings["webhook_secret"] = shown["webhook_secret"] = secrets.token_hex(32)
    try:
        options = dict(_key_value(item) for item in extra)
        with s.db.session() as session:
            created = account_service.create_account(session, s.box, options=options, **settings)
            described = account_service.describe(created.account, s.settings.public_url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps({**described, "api_key": created.api_key, **shown}, indent=2))


@accounts_cli.command("update")
@click.option("--account", "account_key", required=True)
@click.option("--webhook-secret", default=None)
@click.option("--api-url", default=None)
@click.option("--api-token", default=None)
@click.option("--api-user", default=None)
@click.option("--locale", default=None)
@click.option("--scale", default=None)
@click.option("--delay-minutes", type=int, default=None)
@click.option("--throttle-days", type=int, default=None)
@click.option("--settle-minutes", type=int, default=None)
@click.option("--edit-days", type=int, default=None)
@click.option("--option", "extra", multiple=True, metavar="KEY=VALUE", help="Set a platform setting; KEY= removes it.")
@click.option("--channels", default=None, help="Channel order, e.g. whatsapp,sms,email (docs/channels.md).")
@click.option(
    "--phone-region",
    default=None,
    metavar="CC",
    help="Country of phone numbers written without a country code (ISO 3166 alpha-2, e.g. GB); '' removes it.",
)
def accounts_update(
    account_key: str, extra: tuple[str, ...], channels: str | None, phone_region: str | None, **settings
) -> None:
    """Change an account's settings or secrets (e.g. the signing secret a helpdesk shows after setup)."""
    from plugin.channels.configs import parse_order
    from plugin.channels.phones import check_region

    s = services()
    try:
        options = dict(_key_value(item) for item in extra)
        if channels is not None:
            options["channels"] = parse_order(channels)
        if phone_region is not None:
            options["phone_region"] = check_region(phone_region) if phone_region.strip() else ""
        with s.db.session() as session:
            account = account_service.update_account(
                session, s.box, _account(session, account_key), options=options, **settings
            )
            described = account_service.describe(account, s.settings.public_url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(described, indent=2))


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--option takes KEY=VALUE; got {item!r}")
    return key.strip(), value.strip()


@accounts_cli.command("list")
def accounts_list() -> None:
    """Print every account as JSON (no secrets)."""
    s = services()
    with s.db.session() as session:
        rows = [account_service.describe(a, s.settings.public_url) for a in session.query(Account).order_by(Account.id)]
    click.echo(json.dumps(rows, indent=2))


def _account(session, key: str) -> Account:
    account = account_service.by_key(session, key)
    if account is None:
        raise click.UsageError(f"no account with key {key!r} (see 'accounts list')")
    return account


@write_backs_cli.command("list")
@click.option("--account", "account_key", required=True)
@click.option("--status", type=click.Choice(["pending", "delivered", "parked", "superseded"]), default=None)
def write_backs_list(account_key: str, status: str | None) -> None:
    """Print the account's write-backs (use --status parked for the ones that gave up)."""
    with services().db.session() as session:
        rows = reports.write_backs(session, _account(session, account_key).id, status)
    click.echo(json.dumps(rows, indent=2))


@write_backs_cli.command("replay")
@click.option("--account", "account_key", required=True)
@click.argument("write_back_id", type=int)
def write_backs_replay(account_key: str, write_back_id: int) -> None:
    """Put a parked write-back back in line."""
    s = services()
    with s.db.session() as session:
        replayed = writebacks.replay(session, write_back_id, _account(session, account_key).id, s.clock())
    if replayed is None:
        raise click.UsageError(f"no parked write-back {write_back_id} for this account")
    s.jobs.enqueue("deliver_write_back", write_back_id)
    _drain_if_local()
    click.echo(f"write-back {write_back_id} queued again")


@clicks_cli.command("flagged")
@click.option("--account", "account_key", required=True)
def clicks_flagged(account_key: str) -> None:
    """Print the ratings waiting for a person, with every click and why it was marked."""
    from plugin.surveys.review import flagged

    with services().db.session() as session:
        rows = flagged(session, _account(session, account_key).id)
    click.echo(json.dumps(rows, indent=2))


@clicks_cli.command("update-datacenters")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Default: the data file.")
@click.option(
    "--azure",
    "azure_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Microsoft's weekly Service Tags JSON, downloaded by hand (its address changes weekly).",
)
def clicks_update_datacenters(output: Path | None, azure_file: Path | None) -> None:
    """Refresh the cloud providers' networks (plugin/data/scanner_datacenters.txt) from their published lists."""
    from plugin.surveys.datacenters import update

    for name, count in update(output, azure_file).items():
        click.echo(f"{name}: {count} blocks")


@clicks_cli.command("restore")
@click.option("--account", "account_key", required=True)
@click.argument("click_id", type=int)
def clicks_restore(account_key: str, click_id: int) -> None:
    """Count a marked click's score as if the person had confirmed it."""
    from plugin.surveys.counting import RatingConfirmed, restore

    s = services()
    try:
        with s.db.session() as session:
            write_back = restore(session, _account(session, account_key).id, click_id, s.clock())
            if write_back is None:
                raise click.UsageError(f"no click {click_id} on this account's surveys")
            write_back_id, score = write_back.id, write_back.rating.score
    except RatingConfirmed as exc:
        raise click.UsageError(str(exc)) from None
    s.jobs.enqueue("deliver_write_back", write_back_id)
    _drain_if_local()
    click.echo(f"click {click_id} restored: the rating counts with score {score}")


@surveys_cli.command("list")
@click.option("--account", "account_key", required=True)
@click.option("--status", type=click.Choice(["scheduled", "sent", "skipped", "cancelled", "failed"]), default=None)
def surveys_list(account_key: str, status: str | None) -> None:
    """Print the account's surveys with status, reason and attempts (--status failed: the ones that gave up)."""
    with services().db.session() as session:
        rows = reports.surveys(session, _account(session, account_key).id, status=status)
    click.echo(json.dumps(rows, indent=2, ensure_ascii=False))


@surveys_cli.command("replay")
@click.option("--account", "account_key", required=True)
@click.argument("survey_id", type=int)
def surveys_replay(account_key: str, survey_id: int) -> None:
    """Schedule a failed survey again, now."""
    from plugin.surveys import sending

    s = services()
    with s.db.session() as session:
        replayed = sending.replay(session, survey_id, _account(session, account_key).id, s.clock())
    if replayed is None:
        raise click.UsageError(f"no failed survey {survey_id} for this account")
    s.jobs.enqueue("send_survey", survey_id)
    _drain_if_local()
    click.echo(f"survey {survey_id} scheduled again")


@click.command("sweep")
def sweep_command() -> None:
    """Enqueue all work the database says is due (run by the worker and the web process on a timer)."""
    s = services()
    with s.db.session() as session:
        count = sweep(session, s.jobs, s.clock())
    ran = _drain_if_local()
    click.echo(f"{count} due job(s) offered" + (f", {ran} run" if ran is not None else ""))


@click.command("prune")
@click.option(
    "--days",
    type=int,
    default=retention.RETENTION_DAYS,
    show_default=True,
    help="Retention for accounts without their own retention_days option.",
)
@click.option("--account", "account_key", default=None, help="Only this account.")
def prune_command(days: int, account_key: str | None) -> None:
    """Delete old finished webhook events and delivered outbound webhooks (docs/retention.md)."""
    if days < 1:
        raise click.UsageError("--days must be at least 1")
    s = services()
    with s.db.session() as session:
        ids = None if account_key is None else [_account(session, account_key).id]
        pruned = retention.prune(session, s.clock(), default_days=days, account_ids=ids)
    click.echo(", ".join(f"{count} {kind}" for kind, count in pruned.items()) + " deleted")


def _drain_if_local() -> int | None:
    jobs = services().jobs
    return jobs.drain() if isinstance(jobs, LocalQueue) else None


@click.command("worker")
@click.option("--burst", is_flag=True, help="Offer what is due (one sweep), run it, then exit.")
def worker_command(burst: bool) -> None:
    """Run the RQ worker (needs REDIS_URL) with the periodic sweep beside it."""
    from rq import SimpleWorker

    s = services()
    if not isinstance(s.jobs, RQQueue):
        raise click.UsageError("the worker needs REDIS_URL; without it jobs run inside the web process")
    logging.basicConfig(level=logging.INFO)
    if burst:  # the rows say what is due, not the queue: a webhook leaves its survey to the sweep
        with s.db.session() as session:
            sweep(session, s.jobs, s.clock())
    else:
        from flask import current_app

        app = current_app._get_current_object()
        threading.Thread(target=_sweep_forever, args=(app,), name="opencsat-sweep", daemon=True).start()
    # SimpleWorker runs jobs in this process, inside this app context: jobs are short I/O calls (docs/decisions.md).
    SimpleWorker([s.jobs.queue], connection=s.jobs.redis).work(burst=burst)


def _sweep_forever(app: Flask) -> None:
    with app.app_context():
        s = services()
        while True:
            try:
                periodic(s.db, s.jobs, s.clock, s.settings.sweep_seconds)
            except Exception:  # the database or Redis is away for a moment: try again next round
                logging.getLogger(__name__).exception("sweep failed")
            time.sleep(s.settings.sweep_seconds)


@click.command("signature")
@click.option("--account", "account_key", required=True)
@click.option("--agent", "agent_email", required=True, help="The agent's email address (ratings are theirs).")
@click.option("--platform", default=None, help="Another helpdesk's ticket placeholder (default: the account's).")
def signature_command(account_key: str, agent_email: str, platform: str | None) -> None:
    """Print an agent's signature rating block: HTML, then a plain-text variant (docs/signature-links.md)."""
    from plugin import signature

    if "@" not in agent_email or platform not in (None, *signature.PLACEHOLDERS):
        raise click.UsageError(
            f"--agent must be an email address; --platform one of {', '.join(signature.PLACEHOLDERS)}"
        )
    s = services()
    with s.db.session() as session:
        account = account_service.by_key(session, account_key)
        if account is None:
            raise click.UsageError(f"no account with key {account_key!r}")
        block = signature.snippet(account, agent_email, s.tokens, s.settings.public_url, platform)
    click.echo(f"<!-- HTML: paste into the signature's source view; {block.placeholder} is the ticket placeholder -->")
    click.echo(block.html)
    click.echo("\n-- plain text --")
    click.echo(block.text)


def init_app(app: Flask) -> None:
    from plugin.admin.cli import admins_cli
    from plugin.cli_keys import keys_cli
    from plugin.demo import demo_command

    commands = (
        db_cli,
        accounts_cli,
        surveys_cli,
        write_backs_cli,
        clicks_cli,
        sweep_command,
        prune_command,
        worker_command,
        demo_command,
        signature_command,
    )
    for command in (*commands, admins_cli, keys_cli):
        app.cli.add_command(command)
    from plugin.cli_channels import COMMANDS as CHANNEL_COMMANDS
    from plugin.cli_webhooks import COMMANDS

    for command in (*COMMANDS, *CHANNEL_COMMANDS):
        app.cli.add_command(command)
