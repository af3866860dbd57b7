"""CSV exports: every text cell made safe for spreadsheets, rows streamed in batches, and a cap on the rows.

A cell that begins with = + - @ (or a tab or carriage return, which some spreadsheets skip before reading one of
those) is read as a formula by Excel, LibreOffice and Google Sheets, so a customer's comment such as
``=HYPERLINK("http://evil", "click")`` would run on the team lead's machine. Such a cell gets a leading apostrophe,
OWASP's advice (https://owasp.org/www-community/attacks/CSV_Injection); numbers are left as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 100_000  # a larger export is asked to narrow its period (since/until) rather than build for minutes
BATCH = 1000


class TooManyRows(ValueError):
    """The export would hold more than MAX_ROWS rows; the message says what to do."""


def safe_cell(value: object) -> object:
    """The value as a spreadsheet may show it: text that would start a formula is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def check_size(count: int, limit: int | None = None) -> None:
    limit = MAX_ROWS if limit is None else limit
    if count > limit:
        raise TooManyRows(
            f"this export would hold {count} rows, more than the {limit} one file may hold; "
            "choose a shorter period with since and until"
        )


def stream(columns: Sequence[str], page: Callable[[int], list[dict]], limit: int | None = None) -> Iterator[str]:
    """The CSV text, a header and then one chunk per page; `page(after_id)` returns the next rows (with "id")."""
    limit = MAX_ROWS if limit is None else limit
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    after, written = 0, 0
    while written < limit and (rows := page(after)):
        rows = rows[: limit - written]
        writer.writerows({name: safe_cell(row.get(name)) for name in columns} for row in rows)
        written += len(rows)
        after = rows[-1]["id"]
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
