"""Signals that a click came from a mail security scanner rather than a person.

Each rule is a named function of a `ClickContext` returning its reason or None. A click with any reason is
marked: it never settles by itself and waits for the person's confirmation (or an admin's restore). The lists of
known scanner agents and networks are data files in plugin/data/, with their sources.

One more signal is checked when a click would settle (see `counting.settle`): the page must have been rendered
by a browser (its "visible" beacon arrived), else the click is marked `never_rendered`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
BURST = timedelta(minutes=2)  # different scores this close together are a machine's sweep, not a change of mind
TOO_SOON = timedelta(seconds=60)  # scanners open links within seconds of delivery; people rarely within a minute


@dataclass(frozen=True)
class ClickContext:
    """What the rules may look at: this click, its request, and the survey's earlier clicks."""

    score: int
    at: datetime
    user_agent: str = ""
    client_ip: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    sent_at: datetime | None = None
    earlier: Sequence[tuple[int, datetime]] = ()  # (score, at) of earlier clicks on this survey


def several_scores(ctx: ClickContext) -> str | None:
    """Different scores clicked for one survey within two minutes: a scanner opening every link."""
    if any(score != ctx.score and abs(ctx.at - at) <= BURST for score, at in ctx.earlier):
        return "several_scores"
    return None


def too_soon_after_delivery(ctx: ClickContext) -> str | None:
    """A click within the first minute after the email was sent."""
    if ctx.sent_at is not None and ctx.at - ctx.sent_at < TOO_SOON:
        return "too_soon_after_delivery"
    return None


def known_scanner_agent(ctx: ClickContext) -> str | None:
    """A User-Agent from plugin/data/scanner_user_agents.txt, or none at all."""
    if not ctx.user_agent.strip() or any(p.search(ctx.user_agent) for p in _agent_patterns()):
        return "known_scanner_agent"
    return None


def known_scanner_network(ctx: ClickContext) -> str | None:
    """A client address inside a network from plugin/data/scanner_networks.txt."""
    try:
        address = ipaddress.ip_address(ctx.client_ip)
    except ValueError:
        return None
    if any(address in network for network in _networks() if network.version == address.version):
        return "known_scanner_network"
    return None


def missing_browser_headers(ctx: ClickContext) -> str | None:
    """A browser following a link asks for HTML and names its languages; link checkers often do neither."""
    headers = {name.lower(): value for name, value in ctx.headers.items()}
    if "text/html" not in headers.get("accept", "") or not headers.get("accept-language", "").strip():
        return "missing_browser_headers"
    return None


RULES: tuple[Callable[[ClickContext], str | None], ...] = (
    several_scores,
    too_soon_after_delivery,
    known_scanner_agent,
    known_scanner_network,
    missing_browser_headers,
)

# Reasons that only say "early": a person's interaction with the page (a beacon) may lift them. The others may not.
TIMING_ONLY = frozenset({"too_soon_after_delivery"})
NEVER_RENDERED = "never_rendered"


def assess(ctx: ClickContext) -> list[str]:
    """The reasons this click looks automated; empty for a clean click."""
    return [reason for rule in RULES if (reason := rule(ctx))]


def _lines(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@lru_cache(maxsize=1)
def _agent_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(line, re.IGNORECASE) for line in _lines("scanner_user_agents.txt"))


@lru_cache(maxsize=1)
def _networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(line, strict=False) for line in _lines("scanner_networks.txt"))
