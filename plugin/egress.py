"""Every HTTP call the service makes to a URL that a tenant or admin can set goes through `request` here.

The policy (docs/security.md "Outbound HTTP"):
- http and https only, with a host name;
- the host is resolved once and every address it resolves to is checked: loopback, private, link-local, CGNAT
  (100.64.0.0/10), multicast, unspecified, reserved and other non-global addresses are refused, and so are IPv6
  addresses that carry such an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, NAT64), unless the address lies in
  OUTBOUND_ALLOWED_NETWORKS. Odd spellings (2130706433, 0x7f000001, 0177.0.0.1, [::ffff:127.0.0.1]) reach the check
  as the address they mean, because the resolver's own reading is what is checked;
- the connection goes to the address that was checked (no second lookup, so no DNS rebinding), while the Host
  header, TLS SNI and certificate verification keep using the name;
- no redirects followed, no proxy from the environment;
- what reaches the tenant about a failure is `describe_status` / `describe_failure`: a status code and a short
  generic reason, never the remote body nor the URL (it may hold a secret, such as a Slack webhook path).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

TIMEOUT_SECONDS = 10
SCHEMES = ("http", "https")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Non-global ranges that Python's is_global does not already cover, kept explicit so the table reads as the policy.
CGNAT = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 shared address space
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address sits in the last 32 bits
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 2.5.5.1, deprecated


class EgressRefused(Exception):
    """The URL may not be called under the outbound policy; the message is safe to show the tenant."""


def parse_networks(raw: str) -> tuple[Network, ...]:
    """OUTBOUND_ALLOWED_NETWORKS: comma-separated CIDRs; ValueError naming the first that is not one (host bits set
    count as a mistake: 127.0.0.1/8 is refused, 127.0.0.0/8 meant)."""
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError as exc:
            raise ValueError(f"{part!r} is not a network in CIDR form such as 10.0.0.0/8 or fd00::/8 ({exc})") from None
    return tuple(networks)


def refusal(address: Address, allowed: Iterable[Network] = ()) -> str | None:
    """Why `address` may not be called (a short phrase), or None when it may."""
    allowed = tuple(allowed)
    candidates = [address, *_embedded_ipv4(address)]
    if any(c in n for c in candidates for n in allowed if c.version == n.version):
        return None
    for candidate in candidates:
        reason = _reason(candidate)
        if reason:
            return reason
    return None


def _embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 address an IPv6 address carries and may end up reaching (mapped, compatible, 6to4, NAT64)."""
    if address.version == 4:
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address in NAT64 or address in IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.teredo:
        found.extend(address.teredo)
    return found


def _reason(address: Address) -> str | None:
    checks = (
        ("IPv4-mapped", address.version == 6 and address.ipv4_mapped is not None),
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("carrier-grade NAT", address.version == 4 and address in CGNAT),
        ("NAT64", address.version == 6 and (address in NAT64 or address in NAT64_LOCAL)),
        ("reserved", address.is_reserved),
        ("not globally reachable", not address.is_global),
    )
    return next((f"a {name} address" for name, hit in checks if hit), None)


def check_url(url: str, allowed: Iterable[Network] | None = None, *, resolve: bool = True) -> str:
    """`url` if the policy lets it be called now; EgressRefused with a sentence otherwise.

    For checking a URL as an admin sets it: a name that does not resolve (yet) is accepted here and checked again,
    like every call, when it is used.
    """
    allowed = current_allowed_networks() if allowed is None else tuple(allowed)
    host, port = _host_and_port(url)
    try:
        addresses = _resolve(host, port) if resolve else _literal(host)
    except OSError:
        return url
    _check_addresses(host, addresses, allowed)
    return url


def resolve_checked(url: str, allowed: Iterable[Network] | None = None) -> str:
    """The one address this call will connect to, after every address of the host passed the policy."""
    allowed = current_allowed_networks() if allowed is None else tuple(allowed)
    host, port = _host_and_port(url)
    try:
        addresses = _resolve(host, port)
    except OSError as exc:
        raise requests.ConnectionError(f"the host name could not be resolved ({type(exc).__name__})") from None
    _check_addresses(host, addresses, allowed)
    return str(addresses[0])


def _host_and_port(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("the URL cannot be read (check its host and port)") from None
    if parts.scheme not in SCHEMES:
        raise EgressRefused("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise EgressRefused("the URL has no host name")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return []


def _resolve(host: str, port: int) -> list[Address]:
    """Every address the system resolver gives for `host` (which also reads 0x7f000001 and 2130706433 as IPv4)."""
    found: list[Address] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])  # an IPv6 zone index is not part of the address
        if address not in found:
            found.append(address)
    if not found:
        raise OSError("no address")
    return found


def _check_addresses(host: str, addresses: list[Address], allowed: tuple[Network, ...]) -> None:
    for address in addresses:
        reason = refusal(address, allowed)
        if reason:
            raise EgressRefused(
                f"{host} resolves to {reason}, which this service does not call; an operator can allow an "
                f"on-premises network with OUTBOUND_ALLOWED_NETWORKS"
            )


def current_allowed_networks() -> tuple[Network, ...]:
    """The running app's OUTBOUND_ALLOWED_NETWORKS; outside an app, the environment's."""
    from flask import current_app, has_app_context

    if has_app_context() and "opencsat" in current_app.extensions:
        return current_app.extensions["opencsat"].settings.outbound_allowed_networks
    import os

    return parse_networks(os.environ.get("OUTBOUND_ALLOWED_NETWORKS", ""))


def request(method: str, url: str, **kwargs) -> requests.Response:
    """One outbound call under the policy: raises EgressRefused, or requests' own errors; never follows redirects."""
    address = resolve_checked(url)
    kwargs.setdefault("timeout", TIMEOUT_SECONDS)
    kwargs["allow_redirects"] = False
    kwargs.pop("proxies", None)
    with requests.Session() as session:
        session.trust_env = False  # an HTTP(S)_PROXY from the environment would connect somewhere unchecked
        adapter = _PinnedAdapter(address)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session.request(method, url, **kwargs)


def describe_status(status_code: int) -> str:
    """What a tenant may read about a remote answer: its code and a generic reason, never its body."""
    if status_code == 429:
        kind = "rate limited"
    elif status_code >= 500:
        kind = "server error"
    elif status_code in (401, 403):
        kind = "not authorised: check the credentials"
    elif status_code == 404:
        kind = "not found: check the URL"
    elif 300 <= status_code < 400:
        kind = "redirect, not followed"
    else:
        kind = "refused"
    return f"HTTP {status_code} ({kind})"


def describe_failure(exc: Exception) -> str:
    """What a tenant (and a log) may read about a failed call: the kind of failure, never the URL it was made to."""
    if isinstance(exc, EgressRefused):
        return f"refused by the outbound policy: {exc}"
    if isinstance(exc, requests.Timeout):
        return "no answer in time (timeout)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (certificate or handshake)"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return f"request failed ({type(exc).__name__})"


class _PinnedConnectionMixin:
    """Connects to the checked address; everything else (Host, SNI, certificate name) stays the URL's host."""

    def __init__(self, *args, pinned_address: str, **kwargs) -> None:
        self._pinned_address = pinned_address
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:  # urllib3's own, with the pinned address instead of a fresh lookup
        try:
            return urllib3_connection.create_connection(
                (self._pinned_address, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    """A requests transport whose one connection pool connects to a checked address."""

    def __init__(self, address: str) -> None:
        super().__init__(max_retries=0)
        self._address = address
        self._pools: list[HTTPConnectionPool] = []

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None) -> HTTPConnectionPool:
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool: HTTPConnectionPool = _PinnedHTTPSPool(
                host_params["host"], host_params["port"], pinned_address=self._address, **pool_kwargs
            )
        else:
            pool = _PinnedHTTPPool(host_params["host"], host_params["port"], pinned_address=self._address)
        self._pools.append(pool)
        return pool

    def close(self) -> None:
        for pool in self._pools:
            pool.close()
        super().close()
