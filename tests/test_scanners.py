"""Each scanner rule on its own: what marks a click, and what does not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plugin.db import utcnow
from plugin.surveys import scanners
from plugin.surveys.scanners import ClickContext
from tests.conftest import BROWSER_HEADERS

NOW = utcnow()


def ctx(**overrides) -> ClickContext:
    """A clean click: a browser, ten minutes after delivery, from an ordinary network."""
    values = dict(
        score=4,
        at=NOW,
        user_agent=BROWSER_HEADERS["User-Agent"],
        client_ip="203.0.113.7",
        headers=BROWSER_HEADERS,
        sent_at=NOW - timedelta(minutes=10),
        earlier=(),
    )
    return ClickContext(**{**values, **overrides})


def test_a_person_in_a_browser_is_clean():
    assert scanners.assess(ctx()) == []


@pytest.mark.parametrize(
    "earlier, marked",
    [
        ([(1, NOW - timedelta(seconds=3))], True),
        ([(4, NOW - timedelta(seconds=3))], False),  # the same score again: a double click
        ([(1, NOW - timedelta(minutes=3))], False),  # a change of mind minutes later
    ],
)
def test_several_scores(earlier, marked):
    assert (scanners.several_scores(ctx(earlier=earlier)) == "several_scores") is marked


@pytest.mark.parametrize("seconds, marked", [(5, True), (59, True), (60, False), (3600, False)])
def test_too_soon_after_delivery(seconds, marked):
    click = ctx(sent_at=NOW - timedelta(seconds=seconds))
    assert (scanners.too_soon_after_delivery(click) == "too_soon_after_delivery") is marked


@pytest.mark.parametrize(
    "agent, marked",
    [
        ("Mozilla/5.0 (compatible; BingPreview/1.0b)", True),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
            True,
        ),
        ("python-requests/2.32.3", True),
        ("curl/8.5.0", True),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("", True),
        (BROWSER_HEADERS["User-Agent"], False),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148",
            False,
        ),
    ],
)
def test_known_scanner_agent(agent, marked):
    assert (scanners.known_scanner_agent(ctx(user_agent=agent)) == "known_scanner_agent") is marked


@pytest.mark.parametrize(
    "address, marked",
    [
        ("40.107.22.5", True),  # Microsoft Exchange Online Protection
        ("104.47.10.1", True),
        ("148.163.140.9", True),  # Proofpoint
        ("2a01:111:f400:fe00::1", True),
        ("203.0.113.7", False),
        ("2001:db8::1", False),
        ("not an address", False),
    ],
)
def test_known_scanner_network(address, marked):
    assert (scanners.known_scanner_network(ctx(client_ip=address)) == "known_scanner_network") is marked


@pytest.mark.parametrize(
    "headers, marked",
    [
        ({"Accept": "*/*", "Accept-Language": "en"}, True),
        ({"Accept": "text/html"}, True),
        ({"accept": "text/html,*/*", "accept-language": "pl-PL"}, False),
    ],
)
def test_missing_browser_headers(headers, marked):
    assert (scanners.missing_browser_headers(ctx(headers=headers)) == "missing_browser_headers") is marked


def test_every_rule_is_named_after_its_reason():
    for rule in scanners.RULES:
        assert rule.__doc__, rule
    assert {rule.__name__ for rule in scanners.RULES} == {
        "several_scores",
        "too_soon_after_delivery",
        "known_scanner_agent",
        "known_scanner_network",
        "missing_browser_headers",
    }


def test_data_files_parse():
    assert scanners._networks() and scanners._agent_patterns()
