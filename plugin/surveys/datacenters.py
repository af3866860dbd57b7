"""Refreshing plugin/data/scanner_datacenters.txt from the cloud providers' published address lists.

`flask --app plugin clicks update-datacenters` downloads each list (fixed, public addresses of the providers, not
tenant-set URLs, so they do not go through plugin.egress), collapses the prefixes (adjacent and nested ranges
merge) and keeps only blocks of at least /20 (IPv4) or /36 (IPv6) so that the file stays small: a sandbox rents
addresses from the large pools, and a few small ranges left out cost little. The result replaces the file whole.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import requests

from plugin.surveys.scanners import DATA

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MIN_V4, MIN_V6 = 20, 36  # prefixes longer than these are dropped after collapsing


def _aws(text: str) -> Iterable[str]:
    data = json.loads(text)
    yield from (p["ip_prefix"] for p in data.get("prefixes", []) if p.get("service") == "EC2")
    yield from (p["ipv6_prefix"] for p in data.get("ipv6_prefixes", []) if p.get("service") == "EC2")


def _google(text: str) -> Iterable[str]:
    for prefix in json.loads(text).get("prefixes", []):
        yield prefix.get("ipv4Prefix") or prefix.get("ipv6Prefix")


def _oracle(text: str) -> Iterable[str]:
    for region in json.loads(text).get("regions", []):
        yield from (c["cidr"] for c in region.get("cidrs", []))


def _digitalocean(text: str) -> Iterable[str]:
    yield from (row[0] for row in csv.reader(io.StringIO(text)) if row)


def _azure(text: str) -> Iterable[str]:
    for value in json.loads(text).get("values", []):
        if value.get("name") == "AzureCloud":
            yield from value.get("properties", {}).get("addressPrefixes", [])


SOURCES: dict[str, tuple[str, Callable[[str], Iterable[str]]]] = {
    "Amazon Web Services (EC2)": ("https://ip-ranges.amazonaws.com/ip-ranges.json", _aws),
    "Google Cloud": ("https://www.gstatic.com/ipranges/cloud.json", _google),
    "Oracle Cloud": ("https://docs.oracle.com/iaas/tools/public_ip_ranges.json", _oracle),
    "DigitalOcean": ("https://digitalocean.com/geo/google.csv", _digitalocean),
}


def collapse(prefixes: Iterable[str]) -> list[Network]:
    """The prefixes merged and filtered to large blocks, IPv4 first."""
    networks: dict[int, list[Network]] = {4: [], 6: []}
    for prefix in prefixes:
        try:
            network = ipaddress.ip_network((prefix or "").strip(), strict=False)
        except ValueError:
            continue
        networks[network.version].append(network)
    kept = []
    for version, minimum in ((4, MIN_V4), (6, MIN_V6)):
        kept += [n for n in ipaddress.collapse_addresses(networks[version]) if n.prefixlen <= minimum]
    return kept


def render(blocks: dict[str, list[Network]]) -> str:
    lines = [
        "# Cloud and hosting networks (CIDR, one per line, # comments), where mail scanners' sandboxes run.",
        '# A click from one of them is marked "datacenter_network" (a weak mark: see docs/integrity.md).',
        f"# Written by `flask --app plugin clicks update-datacenters` on {date.today().isoformat()};"
        f" blocks of /{MIN_V4} (IPv4) and /{MIN_V6} (IPv6) or larger, collapsed.",
    ]
    for name, networks in blocks.items():
        source = SOURCES[name][0] if name in SOURCES else "the Service Tags file given with --azure"
        lines += [f"# {name}: {source}", *(str(n) for n in networks)]
    return "\n".join(lines) + "\n"


def update(output: Path | None = None, azure_file: Path | None = None, timeout: float = 30) -> dict[str, int]:
    """Download every source, write the file, and return how many blocks each provider contributed."""
    blocks: dict[str, list[Network]] = {}
    for name, (url, parse) in SOURCES.items():
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        blocks[name] = collapse(parse(response.text))
    if azure_file is not None:
        blocks["Microsoft Azure (AzureCloud)"] = collapse(_azure(azure_file.read_text(encoding="utf-8")))
    target = output or DATA / "scanner_datacenters.txt"
    target.write_text(render(blocks), encoding="utf-8")
    return {name: len(networks) for name, networks in blocks.items()}
