"""Email addresses checked once, at intake, so nothing about an address can surprise the worker that sends.

The syntax is RFC 5321's Mailbox (https://www.rfc-editor.org/rfc/rfc5321#section-4.1.2) with RFC 6531's
extension for internationalised addresses (https://www.rfc-editor.org/rfc/rfc6531#section-3.3): a dot-atom local
part, a domain of LDH labels. Limits from RFC 5321 section 4.5.3.1: local part 64 octets, the whole path 256
octets with its angle brackets, hence 254 for the address; a label 63 octets.

A non-ASCII domain is sent as its IDNA A-label (xn--...), which every server takes; a non-ASCII local part needs
a server that offers SMTPUTF8 (the sender checks, and skips the survey with a reason if it does not).
Deliberately refused, each with its reason: quoted local parts and address literals ([192.0.2.1]), which
helpdesk requesters do not use and which mail providers commonly reject.
"""

from __future__ import annotations

import re

import idna

MAX_ADDRESS = 254
MAX_LOCAL = 64
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_LOCAL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class AddressError(ValueError):
    """Why an address cannot be mailed: the message is a sentence."""


def problem(address: str) -> str | None:
    """None when `address` can be mailed, else why not (a sentence)."""
    try:
        smtp_form(address)
    except AddressError as exc:
        return str(exc)
    return None


def smtp_form(address: str) -> str:
    """The address as it goes on the wire: the domain as IDNA A-labels; AddressError when it cannot be mailed."""
    if any(ch in address for ch in "\r\n\x00"):
        raise AddressError("the address contains a line break or NUL")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressError("the address needs a local part, an @ and a domain")
    if local.startswith('"'):
        raise AddressError("quoted local parts are not supported")
    if not _LOCAL.fullmatch(local) or any(ch.isspace() or ord(ch) < 32 for ch in local):
        raise AddressError("the local part has characters an address cannot have")
    if len(local.encode()) > MAX_LOCAL:
        raise AddressError(f"the local part is longer than {MAX_LOCAL} octets")
    if domain.startswith("["):
        raise AddressError("address literals are not supported")
    try:
        ascii_domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressError(f"the domain is not a valid internationalised domain name: {exc}") from None
    labels = ascii_domain.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise AddressError("the domain is not a valid host name")
    wire = f"{local}@{ascii_domain}"
    if len(wire.encode()) > MAX_ADDRESS:
        raise AddressError(f"the address is longer than {MAX_ADDRESS} octets")
    return wire


def needs_smtputf8(address: str) -> bool:
    """A non-ASCII local part can only be sent through a server that offers SMTPUTF8."""
    return not address.rpartition("@")[0].isascii()
