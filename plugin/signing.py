"""OpenCSAT's own request signature, used by the generic platform in and by every callback out.

Header: ``X-OpenCSAT-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>``.
Several v1 values may be present (a secret being rotated); one match is enough.

Helpdesks that cannot sign a webhook (Freshdesk's automation rules, LiveAgent's HTTP request action) send the
account's secret itself in ``X-OpenCSAT-Secret``, a custom header their admin adds: `verify_shared_secret`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

HEADER = "X-OpenCSAT-Signature"
SECRET_HEADER = "X-OpenCSAT-Secret"  # nosec B105 - a header's name
TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: "²".isdigit() is True, int("²") raises
_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureError(Exception):
    """The request is not signed by the account's secret, or the signature is stale."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={_digest(secret, t, body)}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    """Raise SignatureError unless `header` signs `body` with `secret` within five minutes of now."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp, candidates = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1" and _DIGEST.fullmatch(value):
            candidates.append(value)
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp) or not candidates:
        raise SignatureError(f"{HEADER} must look like t=<unix seconds>,v1=<hex>")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise SignatureError("signature timestamp is more than 5 minutes away from our clock")
    expected = _digest(secret, int(timestamp), body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature does not match the body and the account's secret")


def verify_shared_secret(secret: str | None, headers: Mapping[str, str], where: str) -> None:
    """Raise SignatureError unless SECRET_HEADER holds the account's `secret`; `where` tells the admin where in the
    helpdesk the header is added."""
    if not secret:
        raise SignatureError("this account has no webhook secret; set one with accounts create --webhook-secret")
    given = headers.get(SECRET_HEADER)
    if not given:
        raise SignatureError(f"missing {SECRET_HEADER} header (add it to {where})")
    if not hmac.compare_digest(given.strip().encode(), secret.encode()):
        raise SignatureError(f"{SECRET_HEADER} does not match the account's webhook secret")


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
