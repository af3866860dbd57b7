"""Reading webhook JSON bodies strictly: every adapter reports what is missing the same way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from plugin.events import PayloadError


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
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError(f"{name} is not an ISO-8601 time: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise PayloadError(f"{name} must be an ISO-8601 string or unix seconds")
