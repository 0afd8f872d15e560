"""Admin Center CSV exports read as `audit_logs` rows, and the dlt resource that carries them.

Zendesk e-mails the CSV with the columns Time, Actor, IP address, Item, Activity type and Activity,
but documents neither the exact header row nor the time format, so:

- the separator is the comma, or a semicolon or tab when that is what splits the header row;
- headers are mapped by name, case, spacing, punctuation and order free; the API's field names
  (`created_at`, `actor_name`, `source_label`, ...) are accepted too. A header we cannot map stops
  the import before anything is written, naming it;
- times are read as UTC unless they carry an offset (ISO 8601, `2024-01-31 09:15:00 UTC`,
  `Jan 31, 2024 09:15:00`, ... or `--time-format`);
- the CSV names the actor but has no actor id: `actor_id` stays null, and `action` is derived from
  the English Activity type (Created -> create, ...), null for any other label;
- a row without an API id gets a stable negative BIGINT id (see `content_key`), so importing the
  same file twice, or two overlapping exports, adds nothing: the merge on (subdomain, id) replaces.

Files are read row by row and handed to dlt in batches, so memory does not grow with the file.
The import itself (`load/csv_import.py`) runs these rows through the load runner.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import dlt
from dlt.sources import DltResource

from zendesk_audit.errors import CsvImportError
from zendesk_audit.extract.source import AUDIT_LOG_COLUMNS, ChunkReport
from zendesk_audit.times import parse_utc

CSV_PIPELINE_NAME = "zendesk_audit_csv"
CSV_SOURCE = "csv"
BATCH_ROWS = 5_000
# Identical rows are numbered within their second so that two same-second events that look alike
# in the CSV stay two rows; the numbering remembers this many distinct recent seconds.
RECENT_SECONDS = 256

# Normalised header -> audit_logs column. Normalising: lower case, anything not a letter or a
# digit becomes one space, so "IP address", "ip_address", " IP-Address " are the same header.
HEADER_ALIASES: dict[str, str] = {
    # The Admin Center columns.
    "time": "created_at",
    "actor": "actor_name",
    "ip address": "ip_address",
    "item": "source_label",
    "activity type": "action_label",
    "activity": "change_description",
    # The API's field names.
    "id": "id",
    "created at": "created_at",
    "action": "action",
    "action label": "action_label",
    "actor id": "actor_id",
    "actor name": "actor_name",
    "source id": "source_id",
    "source type": "source_type",
    "source label": "source_label",
    "change description": "change_description",
    "changes description": "change_description",
    "url": "url",
    # Spellings seen in other tools' exports of the same data.
    "date": "created_at",
    "timestamp": "created_at",
    "ip": "ip_address",
}
INTEGER_COLUMNS = ("id", "actor_id", "source_id")
# The English Activity type shown in Admin Center -> the API's action.
ACTION_BY_LABEL = {
    "created": "create",
    "updated": "update",
    "deleted": "destroy",
    "signed in": "login",
    "exported": "exported",
}
# Tried in order after ISO 8601; a value without an offset is UTC.
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%b %d, %Y %H:%M:%S",
    "%b %d, %Y %H:%M",
    "%B %d, %Y %H:%M:%S",
    "%B %d, %Y %H:%M",
    "%b %d, %Y %I:%M:%S %p",
    "%b %d, %Y %I:%M %p",
    "%B %d, %Y %I:%M:%S %p",
    "%B %d, %Y %I:%M %p",
    "%d %b %Y %H:%M:%S",
    "%d %B %Y %H:%M:%S",
)
_ZONE_SUFFIX = re.compile(r"\s*(?:UTC|GMT|Z)$", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_MAX_FIELD = 10 * 1024 * 1024


def normalise_header(name: str) -> str:
    return _NOT_WORD.sub(" ", name.strip().lower()).strip()


def map_headers(headers: Sequence[str], path: str = "<csv>") -> list[str | None]:
    """The `audit_logs` column of each header (None for a blank one, e.g. a trailing comma).

    Raises:
        CsvImportError: a header we cannot map, the same column twice, or no time column.
    """
    mapped: list[str | None] = []
    unknown: list[str] = []
    for header in headers:
        key = normalise_header(header)
        if not key:
            mapped.append(None)
            continue
        column = HEADER_ALIASES.get(key)
        if column is None:
            unknown.append(header)
        mapped.append(column)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:8])
        raise CsvImportError(
            f"{path}:1: cannot map the column(s) {shown}: an Admin Center CSV has Time, Actor, IP address, "
            "Item, Activity type, Activity (API field names such as created_at and actor_name work too)"
        )
    seen: set[str] = set()
    for header, column in zip(headers, mapped):
        if column is not None and column in seen:
            raise CsvImportError(f"{path}:1: two columns mean {column} (one is {header!r}): keep one")
        if column is not None:
            seen.add(column)
    if "created_at" not in seen:
        raise CsvImportError(f"{path}:1: no Time column (or created_at): every row needs its time")
    return mapped


def parse_csv_time(value: str, time_format: str | None = None) -> datetime:
    """A CSV time as an aware UTC datetime; without an offset the value is UTC.

    Raises:
        ValueError: no known format matches.
    """
    text = value.strip()
    if time_format:
        parsed = datetime.strptime(text, time_format)
    else:
        try:
            return parse_utc(text)
        except ValueError:
            bare = _ZONE_SUFFIX.sub("", text)
            for candidate in TIME_FORMATS:
                try:
                    parsed = datetime.strptime(bare, candidate)
                    break
                except ValueError:
                    continue
            else:
                raise ValueError(text) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def content_key(subdomain: str, row: dict[str, Any], occurrence: int) -> int:
    """A stable negative BIGINT id for a row that has no API id.

    The first 63 bits of sha256 over the account, the UTC second, every text column and the
    row's occurrence number among identical rows of that second, negated (API ids are positive).
    Two different rows collide with probability about n^2 / 2^64: one in 370,000 for ten million
    CSV rows in one account, and a collision replaces one row by the other rather than failing.
    """
    parts = [subdomain, row["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")]
    for column in ("actor_name", "ip_address", "source_label", "action_label", "change_description",
                   "action", "source_type", "actor_id", "source_id", "url"):
        value = row.get(column)
        parts.append("" if value is None else str(value))
    parts.append(str(occurrence))
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return -(int.from_bytes(digest[:8], "big") >> 1) - 1


class _Occurrences:
    """How many identical rows of one second came before this one, over the recent seconds.

    Admin Center sorts its export by time, so identical rows are neighbours: remembering the
    last RECENT_SECONDS seconds keeps memory flat however long the file is.
    """

    def __init__(self, capacity: int = RECENT_SECONDS) -> None:
        self._seconds: OrderedDict[datetime, dict[tuple[Any, ...], int]] = OrderedDict()
        self._capacity = capacity

    def next(self, second: datetime, content: tuple[Any, ...]) -> int:
        counts = self._seconds.get(second)
        if counts is None:
            counts = self._seconds[second] = {}
            if len(self._seconds) > self._capacity:
                self._seconds.popitem(last=False)
        else:
            self._seconds.move_to_end(second)
        number = counts.get(content, 0)
        counts[content] = number + 1
        return number


def _open_text(path: str) -> io.TextIOWrapper:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the reader's finally
    except OSError as exc:
        raise CsvImportError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    head = handle.read(4096)
    handle.seek(0)
    if not head.strip():
        handle.close()
        raise CsvImportError(f"{path}:1: the file is empty: an Admin Center CSV starts with a header row")
    if b"\x00" in head or head.startswith((b"PK\x03\x04", b"\x1f\x8b")):
        handle.close()
        raise CsvImportError(f"{path}:1: not a CSV file (binary content; a zip or gzip must be unpacked first)")
    # surrogateescape: a byte that is not UTF-8 is found in its row, so the error names that line.
    return io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")


DELIMITERS = (",", ";", "\t")


def header_delimiter(text: io.TextIOWrapper) -> str:
    """The separator of the header row: whichever of comma, semicolon or tab splits it into the
    most fields (comma on a tie or a one-column header). Leaves `text` at its start.

    Zendesk sends commas, but a spreadsheet saved in a locale whose decimal mark is a comma (most
    of Europe) writes semicolons, and some tools write tabs: read as commas, such a header is one
    column, `Time;Actor;...`, that no name maps.
    """
    first = text.readline()
    text.seek(0)
    widths = {}
    for delimiter in DELIMITERS:
        try:
            widths[delimiter] = len(next(csv.reader([first], delimiter=delimiter), []))
        except csv.Error:
            widths[delimiter] = 0
    best = max(DELIMITERS, key=lambda delimiter: (widths[delimiter], delimiter == ","))
    return best if widths[best] > 1 else ","


def read_csv_rows(
    path: str, subdomain: str, time_format: str | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """Yield `audit_logs` rows of one Admin Center CSV in batches, reading it once, row by row.

    Raises:
        CsvImportError: `file:line: why` for the first row (or header) that cannot be read.
    """
    csv.field_size_limit(_MAX_FIELD)
    text = _open_text(path)
    try:
        reader = csv.reader(text, strict=True, delimiter=header_delimiter(text))
        line = 1
        try:
            headers = next(reader)
        except StopIteration:
            raise CsvImportError(f"{path}:1: the file is empty: an Admin Center CSV starts with a header row") from None
        _check_utf8(headers, path, 1)
        columns = map_headers(headers, path)
        width = len(headers)
        occurrences = _Occurrences()
        batch: list[dict[str, Any]] = []
        line = reader.line_num + 1
        for values in reader:
            if not values or (len(values) == 1 and not values[0].strip()):
                line = reader.line_num + 1
                continue
            _check_utf8(values, path, line)
            if len(values) != width:
                raise CsvImportError(f"{path}:{line}: {len(values)} fields where the header has {width}")
            row = _row(values, columns, path, line, time_format)
            row["subdomain"] = subdomain
            row["_source"] = CSV_SOURCE
            if row.get("id") is None:
                content = tuple(row.get(name) for name in ("actor_name", "ip_address", "source_label",
                                                            "action_label", "change_description"))
                row["id"] = content_key(subdomain, row, occurrences.next(row["created_at"], content))
            batch.append(row)
            if len(batch) >= batch_rows:
                yield batch
                batch = []
            line = reader.line_num + 1
        if batch:
            yield batch
    except csv.Error as exc:
        raise CsvImportError(f"{path}:{line}: not valid CSV ({exc})") from None
    finally:
        text.close()


def _check_utf8(values: list[str], path: str, line: int) -> None:
    joined = "".join(values)
    if joined.isascii():
        return
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        raise CsvImportError(f"{path}:{line}: not UTF-8 text: save the CSV as UTF-8") from None


def _row(values: list[str], columns: list[str | None], path: str, line: int, time_format: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, raw in zip(columns, values):
        if column is None:
            continue
        value = raw.strip()
        row[column] = value if value != "" else None
    created = row.get("created_at")
    if created is None:
        raise CsvImportError(f"{path}:{line}: no time in this row")
    try:
        row["created_at"] = parse_csv_time(created, time_format)
    except ValueError:
        hint = f"--time-format {time_format!r}" if time_format else "ISO 8601 or pass --time-format, e.g. '%d/%m/%Y %H:%M'"
        raise CsvImportError(f"{path}:{line}: time {created[:40]!r} is not a time we can read ({hint})") from None
    for name in INTEGER_COLUMNS:
        value = row.get(name)
        if value is not None:
            try:
                row[name] = int(value)
            except ValueError:
                raise CsvImportError(f"{path}:{line}: {name} {value[:40]!r} is not an integer") from None
    # Keep the description's text as Zendesk wrote it; only a missing one stays null.
    if "change_description" in row and row["change_description"] is None:
        row["change_description"] = ""
    if row.get("action") is None and row.get("action_label"):
        row["action"] = ACTION_BY_LABEL.get(row["action_label"].strip().lower())
    return row


def csv_audit_logs_resource(
    batches: Iterator[list[dict[str, Any]]], chunk_rows: int | None = None, report: ChunkReport | None = None
) -> DltResource:
    """The resource `audit_logs` for CSV rows: same table, columns and key as the API's.

    Takes batches from a shared iterator and stops after `chunk_rows` rows, telling `report` that
    more may remain, so that the load runner commits a large file chunk by chunk.
    """

    @dlt.resource(
        name="audit_logs",
        primary_key=("subdomain", "id"),
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=copy.deepcopy(AUDIT_LOG_COLUMNS),
    )
    def audit_logs() -> Iterator[list[dict[str, Any]]]:
        taken = 0
        for batch in batches:
            yield batch
            taken += len(batch)
            if chunk_rows and taken >= chunk_rows:
                if report is not None:
                    report.more = True
                return

    return audit_logs


def read_csv_files(
    paths: Sequence[str], subdomain: str, time_format: str | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """The batches of every file, one file after the other."""
    for path in paths:
        yield from read_csv_rows(path, subdomain, time_format, batch_rows)


@dlt.source(name="zendesk_audit_csv", section="zendesk_audit", max_table_nesting=0)
def csv_chunk_source(batches: Iterator[list[dict[str, Any]]], chunk_rows: int, report: ChunkReport) -> DltResource:
    return csv_audit_logs_resource(batches, chunk_rows, report)


def check_files(paths: Iterable[str]) -> list[str]:
    """Each file's header, read before anything is written: one bad file stops the whole import."""
    checked = []
    for path in paths:
        text = _open_text(path)
        try:
            headers = next(csv.reader(text, delimiter=header_delimiter(text)), None)
        except csv.Error as exc:
            raise CsvImportError(f"{path}:1: not a valid CSV header row ({exc})") from None
        finally:
            text.close()
        if headers is None:
            raise CsvImportError(f"{path}:1: the file is empty: an Admin Center CSV starts with a header row")
        _check_utf8(headers, path, 1)
        map_headers(headers, path)
        checked.append(os.path.abspath(path))
    return checked


def write_admin_center_csv(records: Iterable[dict[str, Any]], handle: Any) -> int:
    """Write API records as Admin Center would e-mail them (for tests, demos and the docs).

    Times as `YYYY-MM-DD HH:MM:SS UTC`, no ids, the six UI columns. Returns the row count.
    """
    writer = csv.writer(handle)
    writer.writerow(["Time", "Actor", "IP address", "Item", "Activity type", "Activity"])
    count = 0
    for record in records:
        created = record["created_at"]
        if isinstance(created, datetime):
            created = created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        else:
            created = str(created).replace("T", " ").replace("Z", " UTC")
        writer.writerow([
            created,
            record.get("actor_name") or "",
            record.get("ip_address") or "",
            record.get("source_label") or "",
            record.get("action_label") or "",
            record.get("change_description") or "",
        ])
        count += 1
    return count
