"""CLI commands: accounts create/list, demo, sweep."""

from __future__ import annotations

import json

from sqlalchemy import select

from plugin.models import Account
from plugin.services import services


def test_accounts_create_prints_json_with_keys_and_stores_secrets_safely(runner):
    result = runner.invoke(
        args=[
            "accounts",
            "create",
            "--platform",
            "generic",
            "--name",
            "Acme",
            "--webhook-secret",
            "S",
            "--api-url",
            "http://127.0.0.1:9000/hook",
            "--api-token",
            "tok-123",
            "--delay-minutes",
            "0",
            "--option",
            "custom_field_id=77",
        ]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) >= {"account_key", "webhook_url", "api_key"}
    assert created["webhook_url"] == f"http://opencsat.test/webhooks/generic/{created['account_key']}"
    assert created["delay_minutes"] == 0 and created["options"] == {"custom_field_id": "77"}
    with services().db.session() as session:
        account = session.scalar(select(Account))
        stored = " ".join(str(v) for v in vars(account).values())
    assert created["api_key"] not in stored and "tok-123" not in stored
    assert account.webhook_secret_encrypted and account.webhook_secret_encrypted != "S"


def test_accounts_create_refuses_bad_settings(runner):
    for args, message in (
        (["--platform", "myspace"], "unknown platform"),
        (["--platform", "generic", "--scale", "stars"], "unknown scale"),
        (["--platform", "generic", "--delay-minutes", "-5"], "cannot be negative"),
        (["--platform", "generic", "--option", "novalue"], "KEY=VALUE"),
    ):
        result = runner.invoke(args=["accounts", "create", "--name", "X", *args])
        assert result.exit_code == 2 and message in result.output
    with services().db.session() as session:
        assert session.scalar(select(Account)) is None


def test_accounts_list_shows_no_secrets(runner):
    runner.invoke(args=["accounts", "create", "--platform", "generic", "--name", "Acme", "--webhook-secret", "S"])
    listed = json.loads(runner.invoke(args=["accounts", "list"]).output)
    assert [a["name"] for a in listed] == ["Acme"]
    assert "api_key" not in listed[0] and "webhook_secret" not in json.dumps(listed)


def test_demo_plays_the_whole_loop(runner, app):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "-> 202" in result.output
    assert result.output.count("http://opencsat.test/r/") == 5
    assert "helpdesk received the write-back" in result.output and "scored 5/5" in result.output
    assert list(services().settings.outbox_path.glob("*.eml"))


def test_sweep_command_runs_due_work(runner):
    result = runner.invoke(args=["sweep"])
    assert result.exit_code == 0 and "due job(s)" in result.output


def test_worker_without_redis_says_what_to_set(runner):
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 2 and "REDIS_URL" in result.output


def test_accounts_update_changes_settings_secrets_and_options(runner, app, client, http_recorder):
    from tests.conftest import Helpdesk

    helpdesk = Helpdesk(app, client, http_recorder.url)
    key = helpdesk.account.key
    runner.invoke(args=["accounts", "update", "--account", key, "--option", "custom_field_id=1", "--option", "x=2"])
    result = runner.invoke(
        args=[
            "accounts",
            "update",
            "--account",
            key,
            "--webhook-secret",
            "rotated",
            "--delay-minutes",
            "15",
            "--scale",
            "nps",
            "--option",
            "x=",
        ]
    )
    assert result.exit_code == 0, result.output
    updated = json.loads(result.output)
    assert (updated["delay_minutes"], updated["scale"], updated["options"]) == (15, "nps", {"custom_field_id": "1"})
    helpdesk.secret = "rotated"
    assert helpdesk.post(helpdesk.event()).status_code == 202  # the new secret signs


def test_accounts_update_refuses_bad_values_and_unknown_accounts(runner, app, client, http_recorder):
    from tests.conftest import Helpdesk

    key = Helpdesk(app, client, http_recorder.url).account.key
    assert (
        "cannot be negative"
        in runner.invoke(args=["accounts", "update", "--account", key, "--throttle-days", "-1"]).output
    )
    assert "no account" in runner.invoke(args=["accounts", "update", "--account", "nope", "--locale", "de"]).output
