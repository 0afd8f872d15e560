"""Admin Center CSV exports into the same `audit_logs` table the API load writes, marked `_source = 'csv'`.

Zendesk e-mails the CSV with the columns Time, Actor, IP address, Item, Activity type and Activity,
but documents neither the exact header row nor the time format, so:

- headers are mapped by name, case, spacing, punctuation and order free; the API's field names
  (`created_at`, `actor_name`, `source_label`, ...) are accepted too. A header we cannot map stops
  the import before anything is written, naming it;
- times are read as UTC unless they carry an offset (ISO 8601, `2024-01-31 09:15:00 UTC`,
  `Jan 31, 2024 09:15:00`, ... or `--time-format`);
- the CSV names the actor but has no actor id: `actor_id` stays null, and `action` is derived from
  the English Activity type (Created -> create, ...), null for any other label;
- a row without an API id gets a stable negative BIGINT id (see `content_key`), so importing the
  same file twice, or two overlapping exports, adds nothing: the merge on (subdomain, id) replaces;
- a row with an `id` that the API load already wrote (`_source = 'api'`) is left out: the API's
  record is the original, and the summary counts the row as already there from the API.

Files are read row by row and handed to dlt in batches, so memory does not grow with the file.

The import runs as its own dlt pipeline (base name `zendesk_audit_csv`, see `state_layout`), into the same destination and
dataset as the API load. Separate because dlt keys local and destination-side state by pipeline
name: the API's incremental cursor (`zendesk_audit` -> `audit_logs` -> `created_at`) can never be
moved or reset by an import, and an import never picks up a half-finished API load package (or
leaves one behind for the API load). Both take the same destination lock (`pipeline.write_lock`):
they share the dataset's staging table, so an import running inside a load's merge would lose the
load's records. Both declare the same columns and primary key for `audit_logs`, so the table is one table.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import dlt
from dlt.sources import DltResource

from zendesk_audit.errors import ConfigurationError, CsvImportError, CsvImportStopped
from zendesk_audit.settings import DEFAULT_DATASET_NAME, DEFAULT_DUCKDB_PATH
from zendesk_audit.source import AUDIT_LOG_COLUMNS, ChunkReport
from zendesk_audit.times import parse_utc

if TYPE_CHECKING:
    from dlt.destinations.sql_client import SqlClientBase

CSV_PIPELINE_NAME = "zendesk_audit_csv"
CSV_SOURCE = "csv"
BATCH_ROWS = 5_000
# Rows per committed load: bounds the destination's memory for one load (DuckDB: about 150 MB).
CHUNK_ROWS = 100_000
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
        reader = csv.reader(text, strict=True)
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
def _csv_chunk_source(batches: Iterator[list[dict[str, Any]]], chunk_rows: int, report: ChunkReport) -> DltResource:
    return csv_audit_logs_resource(batches, chunk_rows, report)


@dataclass
class ImportResult:
    """What one `zendesk-audit import-csv` did."""

    files: list[str]
    subdomain: str
    rows_read: int
    rows_new: int
    seconds: float
    destination: str
    dataset: str
    load_ids: list[str] = field(default_factory=list)
    # Rows whose id the API load had written: left out, the API's row kept.
    rows_from_api: int = 0
    models: dict[str, Any] | None = None
    models_summary: str | None = None
    # "ok", or "models_failed" when the rows were committed and the models build after them failed.
    status: str = "ok"
    after_load_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_line(self) -> str:
        rate = self.rows_read / self.seconds if self.seconds else 0.0
        return (
            f"imported {self.rows_read:,} CSV rows from {len(self.files)} file(s) for {self.subdomain} into "
            f"{self.destination} dataset {self.dataset} in {self.seconds:.1f} s ({rate:,.0f} rows/s): "
            f"{self.rows_new:,} new, {self.rows_read - self.rows_new - self.rows_from_api:,} already there"
            + (f", {self.rows_from_api:,} already there from the API (kept as the API loaded them)" if self.rows_from_api else "")
        )


def resolve_subdomain(subdomain: str | None) -> str:
    """--subdomain, else `sources.zendesk_audit.subdomain` from dlt config."""
    from zendesk_audit.config import check_subdomain

    if not subdomain:
        subdomain = dlt.config.get("sources.zendesk_audit.subdomain", str)
    if not subdomain:
        raise ConfigurationError(
            "which account is this CSV from? pass --subdomain (or set SOURCES__ZENDESK_AUDIT__SUBDOMAIN): it labels every row"
        )
    return check_subdomain(subdomain)


def check_files(paths: Iterable[str]) -> list[str]:
    """Each file's header, read before anything is written: one bad file stops the whole import."""
    checked = []
    for path in paths:
        text = _open_text(path)
        try:
            headers = next(csv.reader(text), None)
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


def _count_rows(pipeline: dlt.Pipeline, subdomain: str) -> int | None:
    try:
        with pipeline.sql_client() as client:
            rows = client.execute_sql(
                f"select count(*) from {client.make_qualified_table_name('audit_logs')} where subdomain = %s", subdomain
            )
            return int(rows[0][0])
    except Exception:  # noqa: BLE001 - no table yet (first import) or a destination without SQL
        return None


@dataclass
class RowsLeftOut:
    """Rows of the files that the import leaves out, counted as the batches go by."""

    from_api: int = 0


def without_api_rows(
    pipeline: dlt.Pipeline, subdomain: str, batches: Iterable[list[dict[str, Any]]], left_out: RowsLeftOut
) -> Iterator[list[dict[str, Any]]]:
    """The batches without the rows whose (subdomain, id) the API load wrote; counts them in `left_out`.

    Only rows that carry an id of their own can meet an API row (content keys are negative, API ids
    positive). One query per batch keeps memory flat; the destination lock keeps a load from adding
    API rows meanwhile. A destination without SQL keeps every row.
    """
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(pipeline.sql_client())
            table = client.make_qualified_table_name("audit_logs")
        except Exception:  # noqa: BLE001 - a destination without an SQL client (filesystem)
            client = None
        for batch in batches:
            ids = sorted({row["id"] for row in batch if row["id"] > 0})
            found = _api_ids(client, table, subdomain, ids) if client is not None and ids else set()
            if found:
                left_out.from_api += sum(1 for row in batch if row["id"] in found)
                batch = [row for row in batch if row["id"] not in found]
            if batch:
                yield batch


def _api_ids(client: SqlClientBase[Any], table: str, subdomain: str, ids: list[int]) -> set[int]:
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    try:
        rows = client.execute_sql(
            f"select id from {table} where subdomain = %s and coalesce(_source, 'api') <> 'csv' "
            f"and id in ({', '.join(str(int(value)) for value in ids)})",
            subdomain,
        )
    except DatabaseUndefinedRelation:  # first import into an empty dataset
        return set()
    return {int(row[0]) for row in rows or []}


def import_csv(
    paths: Sequence[str],
    subdomain: str | None = None,
    destination: str | None = None,
    dataset_name: str = DEFAULT_DATASET_NAME,
    duckdb_path: str = DEFAULT_DUCKDB_PATH,
    time_format: str | None = None,
    build_models: bool = False,
    wait_for_lock: float = 0.0,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Load Admin Center CSV files into `audit_logs` (`_source = 'csv'`) of one account.

    The files are read once, row by row, and committed every `chunk_rows` rows: memory stays flat
    however large the file (the destination's load of one chunk is what costs memory). A bad row
    stops the import at that row; the chunks before it stay loaded, and importing the fixed file
    again adds nothing twice, because every row's key comes from its content.

    Args:
        paths: CSV files; every header is checked before anything is written.
        subdomain: the account the files came from (default: config `sources.zendesk_audit.subdomain`).
        time_format: a `strptime` format for the Time column when it is not ISO 8601 or a known one.
        build_models: build the SQL models afterwards (not on the filesystem destination).
        chunk_rows: rows per committed load.

    Raises:
        CsvImportError: `file:line: why` (exit 2), nothing of the files was committed.
        CsvImportStopped: the same after earlier chunks were committed (exit 1).
        AfterLoadError: the rows were committed and the models build after them failed (exit 4).

    Example:
        >>> import_csv(["audit-log.csv"], subdomain="acme").summary_line()
        'imported 1,204 CSV rows from 1 file(s) for acme into duckdb dataset zendesk_audit in 1.2 s ...'
    """
    from zendesk_audit.config import check_config_files
    from zendesk_audit.load_runner import LoadOptions, build_models_after
    from zendesk_audit.pipeline import create_destination, create_pipeline, write_lock

    check_config_files()
    if not paths:
        raise ConfigurationError("give at least one CSV file: zendesk-audit import-csv FILE... --subdomain S")
    account = resolve_subdomain(subdomain)
    files = check_files(paths)
    options = LoadOptions(destination, dataset_name, duckdb_path, wait_for_lock, build_models=build_models)
    target = create_destination(destination, duckdb_path)
    pipeline = create_pipeline(target, dataset_name, duckdb_path, pipeline_name=CSV_PIPELINE_NAME)
    # The lock (without the open file) spans the models build too, as for `load`.
    with write_lock(pipeline, wait_for_lock, "import-csv", keep_file_open=False):
        result = _import_chunks(pipeline, files, account, time_format, wait_for_lock, chunk_rows)
        result.files = list(paths)
        build_models_after(pipeline, result, options, what="the import")
    return result


def _import_chunks(
    pipeline: dlt.Pipeline, files: list[str], account: str, time_format: str | None, wait_for_lock: float, chunk_rows: int
) -> ImportResult:
    """The files into `audit_logs` through the load runner, one committed load per `chunk_rows` rows."""
    from zendesk_audit.load_runner import Chunk, ChunkTotals, run_chunks
    from zendesk_audit.pipeline import loader_file_format

    started = time.monotonic()
    totals = ChunkTotals()
    report = ChunkReport()
    left_out = RowsLeftOut()
    rows = read_csv_files(files, account, time_format, min(BATCH_ROWS, chunk_rows))
    with contextlib.closing(without_api_rows(pipeline, account, rows, left_out)) as batches:
        before = _count_rows(pipeline, account)
        file_format = loader_file_format(pipeline)
        try:
            run_chunks(
                pipeline,
                lambda _number: Chunk(_csv_chunk_source(batches, chunk_rows, report), file_format),
                report,
                totals,
                wait_for_lock,
                "import-csv",
            )
        except CsvImportError as exc:
            if totals.rows("audit_logs"):
                raise CsvImportStopped(
                    f"{exc} ({totals.rows('audit_logs'):,} rows before it were imported; importing the fixed file "
                    "again adds nothing twice)"
                ) from None
            raise
        after = _count_rows(pipeline, account)
    rows_read = totals.rows("audit_logs")
    return ImportResult(
        files=files,
        subdomain=account,
        rows_read=rows_read + left_out.from_api,
        rows_new=(after - (before or 0)) if after is not None else rows_read,
        seconds=round(time.monotonic() - started, 3),
        destination=pipeline.destination.destination_name,
        dataset=pipeline.dataset_name,
        load_ids=totals.load_ids,
        rows_from_api=left_out.from_api,
    )


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


__all__ = [
    "CSV_PIPELINE_NAME",
    "ImportResult",
    "content_key",
    "import_csv",
    "map_headers",
    "parse_csv_time",
    "read_csv_rows",
    "write_admin_center_csv",
]
