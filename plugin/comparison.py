"""Each figure beside its value in the previous period of the same length: the team lead's "better or worse?". No Flask.

The previous period of [since, until) is [since - (until - since), since): January 2026 is compared with the 31
days before it. A change is in percentage points for CSAT, response rate and the lower bound, in points for NPS,
in scale points for the CES mean; it is None when either side has no value (no responses).
"""

from __future__ import annotations

from dataclasses import replace

from plugin.dashboard import Filters

COMPARED = ("csat", "csat_lower_bound", "response_rate", "nps", "ces")


def previous_period(filters: Filters) -> Filters | None:
    """The same filters over the period just before; None when the period is open-ended."""
    if filters.since is None or filters.until is None:
        return None
    return replace(filters, since=filters.since - (filters.until - filters.since), until=filters.since)


def period_days(filters: Filters) -> int | None:
    if filters.since is None or filters.until is None:
        return None
    return round((filters.until - filters.since).total_seconds() / 86400)


def delta(current: dict, previous: dict | None) -> dict[str, float | None]:
    """Per compared figure: current - previous, rounded as the figure is; None where either is missing."""
    changes: dict[str, float | None] = {}
    for name in COMPARED:
        now, before = current.get(name), (previous or {}).get(name)
        digits = 2 if name == "ces" else 1
        changes[name] = None if now is None or before is None else round(now - before, digits)
    return changes


def summary_of(row: dict) -> dict:
    """What of a previous period's row is kept beside the current one."""
    return {name: row.get(name) for name in (*COMPARED, "responses", "surveys_sent")}


EMPTY = {name: None for name in COMPARED} | {"responses": 0, "surveys_sent": 0}


def attach(rows: list[dict], previous_rows: list[dict], key: str = "name") -> list[dict]:
    """Each row gets `previous` (its figures in the previous period, zeros when absent) and `delta`."""
    before = {row[key]: row for row in previous_rows}
    for row in rows:
        found = before.get(row[key])
        row["previous"] = summary_of(found) if found else dict(EMPTY)
        row["delta"] = delta(row, found)
    return rows


def over_time(rows: list[dict]) -> list[dict]:
    """The change of each period of a series against the one before it (the first has none)."""
    return [delta(row, rows[i - 1] if i else None) for i, row in enumerate(rows)]
