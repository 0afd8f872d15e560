"""`zendesk-audit import-csv`: Admin Center CSV exports into the same `audit_logs` table the API load
writes, marked `_source = 'csv'`, through the same load runner (`load.runner`).

The rows come from `csv_source` (headers mapped by name, times read as UTC, stable negative ids
for rows without one). A row with an `id` that the API load already wrote (`_source = 'api'`) is
left out: the API's record is the original, and the summary counts the row as already there from
the API.

The import runs as its own dlt pipeline (base name `zendesk_audit_csv`, see `state_layout`), into the
same destination and dataset as the API load. Separate because dlt keys local and destination-side
state by pipeline name: the API's incremental cursor can never be moved or reset by an import, and
an import never picks up a half-finished API load package (or leaves one behind for the API load).
Both take the same destination lock (`pipeline.write_lock`): they share the dataset's staging
table, so an import running inside a load's merge would lose the load's records. Both declare the
same columns and primary key for `audit_logs`, so the table is one table.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import dlt

from zendesk_audit.errors import ConfigurationError, CsvImportError, CsvImportStopped
from zendesk_audit.extract.source import ChunkReport
from zendesk_audit.settings import DEFAULT_DATASET_NAME, DEFAULT_DUCKDB_PATH

if TYPE_CHECKING:
    from dlt.destinations.sql_client import SqlClientBase

from zendesk_audit.extract.csv_source import (
    BATCH_ROWS,
    CSV_PIPELINE_NAME,
    check_files,
    csv_chunk_source,
    read_csv_files,
)

# Rows per committed load: bounds the destination's memory for one load (DuckDB: about 150 MB).
CHUNK_ROWS = 100_000

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
    from zendesk_audit.extract.options import check_subdomain

    if not subdomain:
        subdomain = dlt.config.get("sources.zendesk_audit.subdomain", str)
    if not subdomain:
        raise ConfigurationError(
            "which account is this CSV from? pass --subdomain (or set SOURCES__ZENDESK_AUDIT__SUBDOMAIN): it labels every row"
        )
    return check_subdomain(subdomain)


def _sql_client(pipeline: dlt.Pipeline) -> Any:
    """dlt's SQL client of the pipeline; on an Iceberg lake, one that sees the API load's tables too."""
    from zendesk_audit.load.iceberg import is_iceberg, lake_sql_client

    if is_iceberg(pipeline.destination):
        return lake_sql_client(pipeline.destination, pipeline.dataset_name)
    return pipeline.sql_client()


def _count_rows(pipeline: dlt.Pipeline, subdomain: str) -> int | None:
    try:
        with _sql_client(pipeline) as client:
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
            client = stack.enter_context(_sql_client(pipeline))
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
    detections_dir: str | None = None,
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
        detections_dir: the team's folder of Sigma rules for that build (default: config models.detections_dir).

    Raises:
        CsvImportError: `file:line: why` (exit 2), nothing of the files was committed.
        CsvImportStopped: the same after earlier chunks were committed (exit 1).
        AfterLoadError: the rows were committed and the models build after them failed (exit 4).

    Example:
        >>> import_csv(["audit-log.csv"], subdomain="acme").summary_line()
        'imported 1,204 CSV rows from 1 file(s) for acme into duckdb dataset zendesk_audit in 1.2 s ...'
    """
    from zendesk_audit.extract.options import check_config_files
    from zendesk_audit.load.pipeline import create_destination, create_pipeline, write_lock
    from zendesk_audit.load.runner import LoadOptions, build_models_after

    check_config_files()
    if not paths:
        raise ConfigurationError("give at least one CSV file: zendesk-audit import-csv FILE... --subdomain S")
    account = resolve_subdomain(subdomain)
    files = check_files(paths)
    options = LoadOptions(destination, dataset_name, duckdb_path, wait_for_lock, build_models=build_models,
                          detections_dir=detections_dir)
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
    from zendesk_audit.load.pipeline import loader_file_format
    from zendesk_audit.load.runner import Chunk, ChunkTotals, run_chunks

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
                lambda _number: Chunk(csv_chunk_source(batches, chunk_rows, report), file_format),
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
