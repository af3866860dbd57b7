"""An account's SMS provider for tests: the Twilio emulator on loopback, set up the way an admin does (the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.channels.emulators import TwilioEmulator
from tests.support.cli import add_channel, cli

OURS = "+15005550006"  # Twilio's test-credentials "From" number that always succeeds


@contextmanager
def twilio_for(app, account_key: str, order: str = "sms,email", **update: str) -> Iterator[TwilioEmulator]:
    """`channels add --provider twilio` for the account, and `accounts update --channels <order>` (throttle off)."""
    with TwilioEmulator() as emulator:
        out = add_channel(
            app,
            account_key,
            "twilio",
            account_sid=emulator.account_sid,
            auth_token=emulator.auth_token,
            from_=OURS,
            api_url=emulator.url,
        )
        emulator.inbound_url = out["inbound_url"]
        extra = [arg for name, value in update.items() for arg in (f"--{name.replace('_', '-')}", value)]
        cli(app, "accounts", "update", "--account", account_key, "--channels", order, "--throttle-days", "0", *extra)
        yield emulator
