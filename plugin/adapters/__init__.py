"""Helpdesk adapters: one module per platform, each the same small shape (see `Adapter`)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from plugin.adapters.base import AccountCredentials, RatingReport, WriteBackError
from plugin.events import TicketEvent

__all__ = ["Adapter", "AccountCredentials", "RatingReport", "WriteBackError", "get_adapter", "PLATFORMS"]


class Adapter(Protocol):
    """What every platform provides: verify a request, parse it, write a rating back."""

    name: str

    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the request really comes from the account's helpdesk."""

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        """The normalized event, or PayloadError naming what is missing; `options` are the account's settings, `now`
        the time the delivery arrived (for platforms whose dedupe key needs a time bucket)."""

    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        """Put the rating on the ticket; raise WriteBackError (retryable or not) when the helpdesk refuses."""

    def follow_up(self, credentials: AccountCredentials, report: RatingReport, action: str) -> None:
        """Closing the loop on a negative rating: `reopen` the ticket or leave a `task` (an internal note asking
        for a follow-up, assigned where the platform can); WriteBackError when the helpdesk refuses. Text:
        base.follow_up_text. Optional: a platform without it cannot take the `negative_action` option."""

    # Optional, for platforms whose events carry ids only (TicketEvent.needs_lookup):
    # def lookup(self, credentials, event: TicketEvent) -> TicketEvent  -- runs in a job, never in a request.


PLATFORMS = ("zendesk", "freshdesk", "helpscout", "zammad", "liveagent", "chatwoot", "generic")


@lru_cache(maxsize=1)
def _registry() -> dict[str, Adapter]:
    """Each platform's module `plugin.adapters.<platform>` exposes ADAPTER; a platform without one is not offered."""
    found = {}
    for platform in PLATFORMS:
        try:
            module = importlib.import_module(f"plugin.adapters.{platform}")
        except ModuleNotFoundError as exc:
            if exc.name != f"plugin.adapters.{platform}":
                raise
            continue
        found[platform] = module.ADAPTER
    return found


def get_adapter(platform: str) -> Adapter:
    """The adapter for `platform`; KeyError when it is not (yet) supported."""
    return _registry()[platform]


def supported_platforms() -> list[str]:
    return sorted(_registry())
