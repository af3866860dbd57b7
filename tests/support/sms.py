"""An account's SMS provider for tests: the Twilio emulator on loopback, set up the way an admin does (the CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from tests.channels.emulators import TwilioEmulator

OURS = "+15005550006"  # Twilio's test-credentials "From" number that always succeeds


def _cli(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


@contextmanager
def twilio_for(app, account_key: str, order: str = "sms,email", **update: str) -> Iterator[TwilioEmulator]:
    """`channels add --provider twilio` for the account, and `accounts update --channels <order>` (throttle off)."""
    with TwilioEmulator() as emulator:
        out = json.loads(
            _cli(
                app,
                "channels",
                "add",
                "--account",
                account_key,
                "--provider",
                "twilio",
                "--account-sid",
                emulator.account_sid,
                "--auth-token",
                emulator.auth_token,
                "--from",
                OURS,
                "--api-url",
                emulator.url,
            )
        )
        emulator.inbound_url = out["inbound_url"]
        extra = [arg for name, value in update.items() for arg in (f"--{name.replace('_', '-')}", value)]
        _cli(app, "accounts", "update", "--account", account_key, "--channels", order, "--throttle-days", "0", *extra)
        yield emulator
