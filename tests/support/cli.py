"""The CLI as an admin types it, run from tests on the app's own runner."""

from __future__ import annotations

import json


def cli(app, *args: str) -> str:
    """`flask <args>`: its output; the command must succeed."""
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def add_channel(app, account_key: str, provider: str, **options: str) -> dict:
    """`channels add --account K --provider P --<option> <value>...` (`from_` is `--from`): the JSON it prints."""
    flags = [arg for name, value in options.items() for arg in (f"--{name.rstrip('_').replace('_', '-')}", value)]
    return json.loads(cli(app, "channels", "add", "--account", account_key, "--provider", provider, *flags))
