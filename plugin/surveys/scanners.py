"""Signals that a click came from a mail security scanner rather than a person (docs/integrity.md).

Each rule is a named function of a `ClickContext` returning its reason or None; the reason is stored on the click.
Reasons are strong or weak:

- strong: the request or the page says "machine" (a scanner's agent or network, a browser under automation, a
  request no browser sends, a burst of several scores from one source). Only the person's confirmation or an
  admin's restore gets past it.
- weak: only circumstances that people share with scanners (very early, from a datacenter, a software GPU, a page
  that never reported being shown). The same person's human signal on the page (a real pointer path, a key, a touch)
  lifts it, as does their confirmation.

The page's own observations (navigator.webdriver, headless client hints, window size, WebGL renderer) arrive by
beacon after the click and are judged by `page_reasons`. Scanner agents, scanner networks and datacenter networks
are data files in plugin/data/, each with its sources.
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

# A burst: one source (same agent, same /24 or /48) clicking different scores of one survey within seconds. A
# person picks a score, reads the page, goes back to the email and picks another: that takes longer than this.
BURST_PAIR = timedelta(seconds=10)
# ... or three different scores from one source within two minutes: a sweep with pauses, not a change of mind.
BURST_SPREAD = timedelta(minutes=2)
BURST_SPREAD_SCORES = 3
# Scanners act as the email arrives. Arrival is unknown (greylisting and quarantine delay it by minutes), so it is
# measured twice: from our hand-off to SMTP, and from the first request on any of the email's links by another
# source (the gateway's own fetch is the earliest sign that the email has arrived).
TOO_SOON = timedelta(seconds=60)

WEAK = frozenset({"too_soon_after_arrival", "datacenter_network", "software_renderer", "never_rendered"})
STRONG = frozenset(
    {"several_scores", "known_scanner_agent", "known_scanner_network", "missing_browser_headers", "automated_browser"}
)
NEVER_RENDERED = "never_rendered"

# Reasons in words, for the admin's review screen.
DESCRIPTIONS = {
    "several_scores": "part of a burst: the same source clicked different scores within seconds",
    "too_soon_after_arrival": "clicked within a minute of the email's arrival",
    "known_scanner_agent": "the browser named itself as a scanner, a link previewer or an HTTP library",
    "known_scanner_network": "came from a mail security vendor's network",
    "datacenter_network": "came from a cloud or hosting provider's network, where scanners' sandboxes run",
    "missing_browser_headers": "the request lacked headers every browser sends (Accept: text/html, Accept-Language)",
    "automated_browser": "the page saw a browser under automation (webdriver, headless, or a zero-size window)",
    "software_renderer": "the page saw a software-only graphics renderer, as in sandboxes",
    "never_rendered": "the page never reported being shown on a screen",
}


@dataclass(frozen=True)
class Seen:
    """An earlier request on one of the survey's links, as the rules see it."""

    id: int
    kind: str  # click, head, prefetch, limited, confirm, restore
    score: int
    at: datetime
    client_ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class ClickContext:
    """What the rules may look at: this click, its request, and the survey's earlier requests."""

    score: int
    at: datetime
    user_agent: str = ""
    client_ip: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    sent_at: datetime | None = None
    earlier: Sequence[Seen] = ()


def burst_partners(ctx: ClickContext) -> list[int]:
    """Ids of the earlier clicks that form a burst with this one (empty: no burst)."""
    mine = [s for s in ctx.earlier if s.kind == "click" and same_source(s, ctx.client_ip, ctx.user_agent)]
    close = [s for s in mine if abs(ctx.at - s.at) <= BURST_PAIR]
    if any(s.score != ctx.score for s in close):
        return [s.id for s in close]
    spread = [s for s in mine if abs(ctx.at - s.at) <= BURST_SPREAD]
    if len({ctx.score, *(s.score for s in spread)}) >= BURST_SPREAD_SCORES:
        return [s.id for s in spread]
    return []


def several_scores(ctx: ClickContext) -> str | None:
    """A burst: different scores from one source within seconds (or three within two minutes)."""
    return "several_scores" if burst_partners(ctx) else None


def too_soon_after_arrival(ctx: ClickContext) -> str | None:
    """Within a minute of our SMTP hand-off, or of another source's first request on the email's links."""
    if ctx.sent_at is not None and ctx.at - ctx.sent_at < TOO_SOON:
        return "too_soon_after_arrival"
    others = [s.at for s in ctx.earlier if not same_source(s, ctx.client_ip, ctx.user_agent)]
    if others and timedelta(0) <= ctx.at - min(others) < TOO_SOON:
        return "too_soon_after_arrival"
    return None


def known_scanner_agent(ctx: ClickContext) -> str | None:
    """A User-Agent from plugin/data/scanner_user_agents.txt, or none at all."""
    return "known_scanner_agent" if _scanner_agent(ctx.user_agent) else None


def known_scanner_network(ctx: ClickContext) -> str | None:
    """A client address inside a network from plugin/data/scanner_networks.txt."""
    return "known_scanner_network" if _listed(ctx.client_ip, "scanner_networks.txt") else None


def datacenter_network(ctx: ClickContext) -> str | None:
    """A client address inside a cloud provider's published ranges (plugin/data/scanner_datacenters.txt)."""
    return "datacenter_network" if _listed(ctx.client_ip, "scanner_datacenters.txt") else None


def missing_browser_headers(ctx: ClickContext) -> str | None:
    """A browser following a link asks for HTML and names its languages; link checkers often do neither."""
    headers = {name.lower(): value for name, value in ctx.headers.items()}
    if "text/html" not in headers.get("accept", "") or not headers.get("accept-language", "").strip():
        return "missing_browser_headers"
    return None


RULES: tuple[Callable[[ClickContext], str | None], ...] = (
    several_scores,
    too_soon_after_arrival,
    known_scanner_agent,
    known_scanner_network,
    datacenter_network,
    missing_browser_headers,
)


def assess(ctx: ClickContext) -> list[str]:
    """The reasons this click looks automated; empty for a clean click."""
    return [reason for rule in RULES if (reason := rule(ctx))]


SOFTWARE_RENDERER = re.compile(r"swiftshader|llvmpipe|softpipe|software rasterizer|microsoft basic render", re.I)


def page_reasons(signals: Mapping[str, str]) -> list[str]:
    """Reasons from what the page observed about its browser (the "visible" beacon's fields)."""
    reasons = []
    window = re.fullmatch(r"(\d{1,5})x(\d{1,5})", signals.get("window", ""))
    if (
        signals.get("webdriver") == "1"
        or signals.get("headless") == "1"
        or (window is not None and 0 in (int(window.group(1)), int(window.group(2))))
    ):
        reasons.append("automated_browser")
    if SOFTWARE_RENDERER.search(signals.get("renderer", "")):
        reasons.append("software_renderer")
    return reasons


def is_marked(reasons: Sequence[str], cleared: str) -> bool:
    """Whether a click with these reasons still counts as a machine's: strong ones until an admin restores it,
    weak ones until the person shows a human signal."""
    if cleared == "admin":
        return False
    if any(r not in WEAK for r in reasons):
        return True
    return bool(reasons) and cleared != "person"


def describe(reason: str) -> str:
    return DESCRIPTIONS.get(reason, reason.replace("_", " "))


def same_source(seen: Seen, client_ip: str, user_agent: str) -> bool:
    """The same agent from the same network (a /24 for IPv4, a /48 for IPv6): a scanner's pool, or one person."""
    return seen.user_agent == user_agent and _network_of(seen.client_ip) == _network_of(client_ip)


def _network_of(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))


# Verdicts per agent and per address, per process: the same browser and network click again and again, and the
# lists (read once per process) are hundreds of patterns and networks. Bounded; a miss only costs the work again.
@lru_cache(maxsize=4096)
def _scanner_agent(user_agent: str) -> bool:
    return not user_agent.strip() or any(p.search(user_agent) for p in _agent_patterns())


@lru_cache(maxsize=8192)
def _listed(address: str, name: str) -> bool:
    return _inside(address, _networks(name))


def _inside(address: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks if network.version == ip.version)


def _lines(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


@lru_cache(maxsize=1)
def _agent_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(line, re.IGNORECASE) for line in _lines("scanner_user_agents.txt"))


@lru_cache(maxsize=4)
def _networks(name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(line, strict=False) for line in _lines(name))
