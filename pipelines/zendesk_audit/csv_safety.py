"""Spreadsheet-formula neutralisation for every CSV the project writes.

Audit-log text comes from whoever can name a trigger or a user in Zendesk: a label such as
`=HYPERLINK("http://evil", "click")` is a formula the moment an auditor opens the CSV in Excel,
LibreOffice or Google Sheets (CSV injection, OWASP). A leading `'` makes every spreadsheet show
the text as typed and run nothing. One function, used by every CSV writer, so no writer forgets.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from typing import IO, Any

# What spreadsheets treat as the start of a formula (or, for tab and CR, what hides one).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

__all__ = ["FORMULA_PREFIXES", "csv_cell", "neutralise", "write_csv"]


def neutralise(value: str) -> str:
    """`value` with a leading `'` when a spreadsheet would run it as a formula.

    Example:
        >>> neutralise("=1+1"), neutralise("-5"), neutralise("plain")
        ("'=1+1", "'-5", 'plain')
    """
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def csv_cell(value: Any) -> str:
    """One value as CSV text: None is empty, times are ISO 8601 (UTC when aware), text neutralised.

    Numbers are written as numbers (a negative id stays `-1`: spreadsheets read it as a number,
    not a formula); everything else goes through `neutralise`.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "") + "Z"
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


def write_csv(handle: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a header and rows (every cell through `csv_cell`); return the number of rows.

    `handle` must be opened with `newline=""` so quoted newlines inside cells survive.
    """
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([neutralise(str(name)) for name in header])
    count = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        count += 1
    return count
