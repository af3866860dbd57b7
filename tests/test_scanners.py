"""Each scanner rule on its own: what marks a click, and what does not."""

from __future__ import annotations

import ipaddress
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


PERSON = ("203.0.113.7", BROWSER_HEADERS["User-Agent"])
SCANNER = ("192.0.2.50", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0")


def seen(seconds_ago: float, score: int, source=PERSON, kind: str = "click", id: int = 1) -> scanners.Seen:
    return scanners.Seen(id, kind, score, NOW - timedelta(seconds=seconds_ago), *source)


@pytest.mark.parametrize(
    "earlier, marked",
    [
        ([seen(3, 1)], True),  # two scores from one source within seconds
        ([seen(1, 1, ("203.0.113.99", PERSON[1]))], True),  # the same /24: a scanner's pool of addresses
        ([seen(3, 4)], False),  # the same score again: a double click
        ([seen(30, 1)], False),  # a change of mind thirty seconds later
        ([seen(3, 1, SCANNER)], False),  # another source's click: its own burst, not this person's
        ([seen(3, 1, kind="head")], False),  # a HEAD is no click
        ([seen(90, 1, id=1), seen(45, 2, id=2)], True),  # three scores within two minutes: a sweep with pauses
        ([seen(200, 1, id=1), seen(45, 2, id=2)], False),
    ],
)
def test_several_scores(earlier, marked):
    assert (scanners.several_scores(ctx(earlier=earlier)) == "several_scores") is marked


def test_a_burst_names_its_earlier_clicks():
    earlier = [seen(2, 1, id=7), seen(1, 2, id=8), seen(600, 3, id=9)]
    assert scanners.burst_partners(ctx(earlier=earlier)) == [7, 8]


@pytest.mark.parametrize(
    "since_sent, earlier, marked",
    [
        (5, [], True),
        (59, [], True),
        (60, [], False),
        (3600, [], False),
        # Greylisted for an hour: the gateway's fetch on arrival, then this click seconds later from elsewhere.
        (3600, [seen(20, 1, SCANNER, kind="head")], True),
        (3600, [seen(61, 1, SCANNER, kind="head")], False),
        (3600, [seen(20, 1)], False),  # the person's own earlier click: a change of mind, not an arrival
    ],
)
def test_too_soon_after_arrival(since_sent, earlier, marked):
    click = ctx(sent_at=NOW - timedelta(seconds=since_sent), earlier=earlier)
    assert (scanners.too_soon_after_arrival(click) == "too_soon_after_arrival") is marked


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
    "address, marked",
    [
        ("3.120.1.1", True),  # Amazon Web Services
        ("192.0.2.1", False),  # documentation range
        ("34.90.1.1", True),  # Google Cloud
        ("2600:1f18::1", True),
        ("::ffff:3.120.1.1", True),  # IPv4-mapped IPv6
        ("81.2.69.160", False),  # a consumer ISP
    ],
)
def test_datacenter_network(address, marked):
    assert (scanners.datacenter_network(ctx(client_ip=address)) == "datacenter_network") is marked


@pytest.mark.parametrize(
    "signals, reasons",
    [
        ({"webdriver": "0", "headless": "0", "window": "1280x800", "renderer": "ANGLE (NVIDIA GeForce)"}, []),
        ({"webdriver": "1", "window": "1280x800"}, ["automated_browser"]),
        ({"headless": "1"}, ["automated_browser"]),
        ({"window": "0x0"}, ["automated_browser"]),
        ({"renderer": "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)))"}, ["software_renderer"]),
        ({"window": "garbage", "renderer": ""}, []),
        ({}, []),
    ],
)
def test_page_reasons(signals, reasons):
    assert scanners.page_reasons(signals) == reasons


@pytest.mark.parametrize(
    "reasons, cleared, marked",
    [
        ([], "", False),
        (["too_soon_after_arrival"], "", True),
        (["too_soon_after_arrival", "datacenter_network"], "person", False),  # weak marks: a human signal lifts them
        (["known_scanner_network"], "person", True),  # a strong one: it does not
        (["known_scanner_network"], "admin", False),
    ],
)
def test_what_lifts_a_mark(reasons, cleared, marked):
    assert scanners.is_marked(reasons, cleared) is marked


def test_every_reason_is_described_in_words():
    for reason in scanners.WEAK | scanners.STRONG:
        assert scanners.describe(reason) == scanners.DESCRIPTIONS[reason]


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
        "too_soon_after_arrival",
        "known_scanner_agent",
        "known_scanner_network",
        "datacenter_network",
        "missing_browser_headers",
    }
    assert {rule.__name__ for rule in scanners.RULES} | {
        "automated_browser",
        "software_renderer",
        "never_rendered",
    } == (scanners.WEAK | scanners.STRONG)


def test_data_files_parse():
    assert scanners._agent_patterns()
    assert scanners._networks("scanner_networks.txt") and scanners._networks("scanner_datacenters.txt")


def test_datacenter_lists_are_parsed_collapsed_and_kept_small():
    """The shapes of the providers' documented formats; small ranges are dropped, neighbours merged."""
    import json

    from plugin.surveys import datacenters

    aws = {
        "prefixes": [
            {"ip_prefix": "3.120.0.0/15", "service": "EC2"},
            {"ip_prefix": "3.122.0.0/15", "service": "EC2"},
            {"ip_prefix": "3.5.140.0/22", "service": "S3"},  # not where sandboxes run
            {"ip_prefix": "3.8.0.0/24", "service": "EC2"},  # too small to list
        ],
        "ipv6_prefixes": [{"ipv6_prefix": "2600:1f18::/33", "service": "EC2"}],
    }
    google = {"prefixes": [{"ipv4Prefix": "34.80.0.0/15"}, {"ipv6Prefix": "2600:1900:4000::/44"}, {}]}
    oracle = {"regions": [{"cidrs": [{"cidr": "129.146.0.0/16"}, {"cidr": "nonsense"}]}]}
    assert [str(n) for n in datacenters.collapse(datacenters._aws(json.dumps(aws)))] == [
        "3.120.0.0/14",
        "2600:1f18::/33",
    ]
    assert [str(n) for n in datacenters.collapse(datacenters._google(json.dumps(google)))] == ["34.80.0.0/15"]
    assert [str(n) for n in datacenters.collapse(datacenters._oracle(json.dumps(oracle)))] == ["129.146.0.0/16"]
    assert datacenters.collapse(datacenters._digitalocean("138.68.0.0/16,NL,NL-NH,Amsterdam,\n")) == [
        ipaddress.ip_network("138.68.0.0/16")
    ]
    text = datacenters.render({"Google Cloud": datacenters.collapse(["34.64.0.0/10"])})
    assert "34.64.0.0/10" in text and "https://www.gstatic.com/ipranges/cloud.json" in text
