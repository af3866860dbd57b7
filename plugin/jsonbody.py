"""Reading webhook JSON bodies strictly: every adapter reports what is missing the same way."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from plugin.events import PayloadError

MAX_DEPTH = 32  # helpdesk payloads nest four or five levels; a deeper one is an attack or a bug
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def check_body(body: bytes) -> None:
    """The raw webhook body checked once, before any adapter reads it: PayloadError unless it is JSON whose
    strings and keys hold no NUL (PostgreSQL cannot store one), whose numbers are finite (no NaN, Infinity, 1e400)
    and which nests at most MAX_DEPTH levels (the walk is iterative: no RecursionError whatever the input).
    An empty body passes: some platforms' signed test pings have none, and each adapter decides what it means."""
    if not body.strip():
        return
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise PayloadError(f"body nests deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    stack: list[tuple[object, int, str]] = [(data, 1, "body")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise PayloadError(f"{where} contains a NUL character")
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise PayloadError(f"body nests deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                name = f"{where}.{key}" if isinstance(value, dict) else f"{where}[{key}]"
                if isinstance(key, str) and "\x00" in key:
                    raise PayloadError(f"a key in {where} contains a NUL character")
                stack.append((item, depth + 1, name[:200]))


def _no_constant(name: str) -> float:
    raise PayloadError(f"{name} is not a JSON number (RFC 8259 section 6)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError(f"{text[:30]} is out of range for a number")
    return value


def parse_object(body: bytes) -> dict:
    """The body as a JSON object, or PayloadError saying why not."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    return data


def dig(data: dict, dotted: str) -> object:
    """The value at a dotted path such as "ticket.id", or None when any step is missing."""
    value: object = data
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def require(data: dict, *paths: str) -> None:
    """PayloadError naming every required field that is missing or empty."""
    missing = [path for path in paths if dig(data, path) in (None, "")]
    if missing:
        raise PayloadError("missing required field(s): " + ", ".join(missing))


def parse_datetime(value: object, name: str) -> datetime | None:
    """An ISO-8601 string or unix seconds as an aware UTC datetime; PayloadError for anything else."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (math.isfinite(value) and EARLIEST.timestamp() <= value < LATEST.timestamp()):
            raise PayloadError(f"{name} is out of range: {value!r}")
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError(f"{name} is not an ISO-8601 time: {value[:40]!r}") from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if not EARLIEST <= parsed < LATEST:
            raise PayloadError(f"{name} is out of range (2000 to 2099): {value[:40]!r}")
        return parsed
    raise PayloadError(f"{name} must be an ISO-8601 string or unix seconds")
