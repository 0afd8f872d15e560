"""The one CSV policy for every CSV the project writes: one physical line per row, no formula.

Audit-log text comes from whoever can name a trigger or a user in Zendesk: a label such as
`=HYPERLINK("http://evil", "click")` is a formula the moment an auditor opens the CSV in Excel,
LibreOffice or Google Sheets (CSV injection: OWASP's page of that name, ASVS 5.0 1.2.10). The
policy, in this order:

1. every control character of a text cell (CR, LF, TAB, NUL, ESC, ... `text_safety.escape_controls`)
   becomes a visible escape such as `\\r`: a CR can no longer start a new row in a spreadsheet
   that splits on it, a NUL can no longer hide a leading `=` (LibreOffice drops the NUL and runs
   the rest), and each row is exactly one line of the file;
2. a cell that a spreadsheet would run as a formula (`= + - @`, tab or CR first, also after any
   leading whitespace or invisible characters) gets a leading `'`, which every spreadsheet shows
   as text and runs nothing;
3. every field is quoted and rows end in `\\r\\n` (RFC 4180), so no delimiter inside a cell splits it.

The Parquet files beside the CSVs keep the exact text (they are not opened by spreadsheets).
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import IO, Any

from zendesk_audit.text_safety import INVISIBLE_CHARACTERS, escape_controls

# What spreadsheets treat as the start of a formula (or, for tab and CR, what hides one). The
# full-width forms are cheap insurance: LibreOffice 7.4 does not run them, other tools may.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
LINE_TERMINATOR = "\r\n"

__all__ = ["FORMULA_PREFIXES", "LINE_TERMINATOR", "csv_cell", "csv_text", "neutralise", "write_csv"]


def _leading_ignored(value: str) -> str:
    """`value` without what a spreadsheet may skip before reading a formula: NULs, whitespace, invisibles."""
    start = 0
    while start < len(value) and (
        value[start] == "\x00" or value[start].isspace() or INVISIBLE_CHARACTERS.match(value[start])
    ):
        start += 1
    return value[start:]


def neutralise(value: str) -> str:
    """`value` with a leading `'` when a spreadsheet would run it as a formula.

    Example:
        >>> neutralise("=1+1"), neutralise("-5"), neutralise("  @SUM(A1)"), neutralise("plain")
        ("'=1+1", "'-5", "'  @SUM(A1)", 'plain')
    """
    runs = value.startswith(FORMULA_PREFIXES) or _leading_ignored(value).startswith(FORMULA_PREFIXES)
    return "'" + value if runs else value


def csv_text(value: str) -> str:
    """Text for a CSV cell: controls escaped first, then formulas neutralised (the order matters)."""
    return neutralise(escape_controls(value))


def csv_cell(value: Any) -> str:
    """One value as CSV text: None is empty, times are ISO 8601 (UTC when aware), text through `csv_text`.

    Numbers are written as numbers (a negative id stays `-1`: spreadsheets read it as a number,
    not a formula); everything else goes through `csv_text`.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "") + "Z"
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return csv_text(str(value))


def write_csv(handle: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a header and rows (every cell through `csv_cell`, every field quoted); return the number of rows.

    `handle` must be opened with `newline=""` so the `\\r\\n` line ends are written as they are.
    """
    writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator=LINE_TERMINATOR)
    writer.writerow([csv_text(str(name)) for name in header])
    count = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        count += 1
    return count
