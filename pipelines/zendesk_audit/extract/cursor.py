"""The `audit_logs` cursor in dlt's state: read it, hold it to the settled end, repair it.

dlt keeps the cursor (the incremental on `created_at`) in the pipeline state, in the local
pipeline folder and in the destination's `_dlt_pipeline_state`; a run restores the newer of the
two. A cursor later than the settled end (now - lag) makes every run load nothing, silently: older
versions saved one from a `--start` in the future. The rule that no run saves such a cursor lives
in the source (`source.py` refuses before fetching); this module reads the cursor for
`zendesk-audit status` and moves a cursor that is ahead back for `zendesk-audit repair-cursor`:
to the latest record the API load put in the destination (a small overlap is harmless, the merge
on `(subdomain, id)` drops repeats), or to the configured start when none was loaded.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dlt
from dlt.common.schema.utils import has_table_seen_data
from dlt.pipeline.exceptions import PipelineStepFailed

from zendesk_audit.errors import CursorAheadError, StateUnreadable, first_line
from zendesk_audit.settings import DEFAULT_DATASET_NAME, DEFAULT_DUCKDB_PATH, TIME_FORMAT
from zendesk_audit.times import parse_utc

# Where dlt keeps the cursor: source, resource, incremental, cursor column.
_CURSOR_PATH = ("sources", "zendesk_audit", "resources", "audit_logs", "incremental", "created_at")


def format_time(value: datetime) -> str:
    return value.strftime(TIME_FORMAT)


def _as_utc(value: Any) -> datetime:
    return value if isinstance(value, datetime) else parse_utc(str(value))


def saved_cursor(state: Mapping[str, Any]) -> datetime | None:
    """The cursor in a pipeline state (`pipeline.state`), or None when no run has set one."""
    node: Any = state
    for key in _CURSOR_PATH:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    value = node.get("last_value") if isinstance(node, Mapping) else None
    return None if value is None else parse_utc(_as_utc(value).isoformat())


def check_saved_cursor(cursor: datetime | None, settled: datetime, subdomain: str | None = None) -> None:
    """Refuse a saved cursor later than the settled end, naming the command that repairs it.

    Raises:
        CursorAheadError: `cursor` is later than `settled`.
    """
    if cursor is not None and cursor > settled:
        raise CursorAheadError(format_time(cursor), format_time(settled), subdomain)


def destination_arguments(
    destination: str | None = None, dataset_name: str = DEFAULT_DATASET_NAME, duckdb_path: str = DEFAULT_DUCKDB_PATH
) -> list[str]:
    """The `--destination`, `--duckdb-path` and `--dataset` options a command needs to reach the
    same database as a load (the defaults left out), for the commands an error line names."""
    parts = []
    if destination and destination != "duckdb":
        parts.append(f"--destination {destination}")
    # `iceberg` keeps its models in a DuckDB file beside the lake (load/iceberg.py).
    if (not destination or destination in ("duckdb", "iceberg")) and duckdb_path != DEFAULT_DUCKDB_PATH:
        parts.append(f"--duckdb-path {duckdb_path}")
    if dataset_name != DEFAULT_DATASET_NAME:
        parts.append(f"--dataset {dataset_name}")
    return parts


def repair_command(
    subdomains: Sequence[str],
    destination: str | None = None,
    dataset_name: str = DEFAULT_DATASET_NAME,
    duckdb_path: str = DEFAULT_DUCKDB_PATH,
    start: str | datetime | None = None,
    lag_seconds: int | str | None = None,
) -> str:
    """`zendesk-audit repair-cursor` with the options that point it at the load's own state."""
    parts = ["zendesk-audit repair-cursor", *(f"--subdomain {subdomain}" for subdomain in subdomains)]
    parts.extend(destination_arguments(destination, dataset_name, duckdb_path))
    if start not in (None, ""):
        parts.append(f"--start {start}")
    if lag_seconds not in (None, ""):
        parts.append(f"--lag-seconds {lag_seconds}")
    return " ".join(parts)


def restore_state(pipeline: dlt.Pipeline) -> None:
    """Take the destination's state when it is newer than the local one, as a run would.

    Raises:
        ZendeskAuditError: the destination cannot be read.
    """
    from zendesk_audit.load.runner import step_failure

    try:
        pipeline.sync_destination()
    except PipelineStepFailed as exc:
        failure = step_failure(pipeline, exc)
        if failure is exc:
            raise
        raise failure from None


def latest_loaded(pipeline: dlt.Pipeline, subdomain: str) -> tuple[int, datetime | None]:
    """(rows of the account in `audit_logs`, latest `created_at` the API load wrote) in the destination.

    CSV imports (`_source = 'csv'`) count as rows but not as "latest": an export's ids are not
    the API's, so a cursor set after them could skip API records.
    """
    schema = pipeline.default_schema if pipeline.default_schema_name else None
    if schema is None or not has_table_seen_data(schema.tables.get("audit_logs") or {}):  # type: ignore[arg-type]
        return 0, None  # dlt creates a table with its first rows
    has_source = "_source" in schema.tables["audit_logs"].get("columns", {})
    from_api = "coalesce(_source, 'api') = 'api'" if has_source else "true"
    # The subdomain passed check_subdomain ([a-z0-9-]): safe to inline, on every destination's dialect.
    query = (
        f"select count(*), max(case when {from_api} then created_at end) "
        f"from audit_logs where subdomain = '{subdomain}'"
    )
    try:
        count, latest = pipeline.dataset()(query).fetchall()[0]
    except Exception as exc:  # noqa: BLE001 - any destination's error: one line, never a guess
        raise StateUnreadable(f"cannot read audit_logs in the destination: {first_line(exc)}") from None
    return int(count or 0), None if latest is None else parse_utc(_as_utc(latest).isoformat())


@dataclass
class CursorReport:
    """One account's cursor, for `status` and `repair-cursor`."""

    subdomain: str
    pipeline_name: str
    cursor: datetime | None
    settled_end: datetime
    records: int = 0
    latest_loaded: datetime | None = None
    repaired_from: datetime | None = None
    repair: str | None = None  # the command that repairs a cursor ahead

    @property
    def ahead(self) -> bool:
        return self.cursor is not None and self.cursor > self.settled_end

    def as_dict(self) -> dict[str, Any]:
        def text(value: datetime | None) -> str | None:
            return None if value is None else format_time(value)

        return {
            "subdomain": self.subdomain,
            "pipeline_name": self.pipeline_name,
            "cursor": text(self.cursor),
            "settled_end": text(self.settled_end),
            "cursor_ok": not self.ahead,
            "records": self.records,
            "latest_loaded": text(self.latest_loaded),
            "repaired_from": text(self.repaired_from),
            "repair_command": self.repair if self.ahead else None,
        }

    def line(self) -> str:
        cursor = format_time(self.cursor) if self.cursor else "not set (no load yet)"
        latest = f", the latest from the API at {format_time(self.latest_loaded)}" if self.latest_loaded else ""
        text = f"{self.subdomain}: cursor {cursor}; {self.records:,} records loaded{latest}"
        where = f" (dlt pipeline {self.pipeline_name})"
        if self.repaired_from is not None:
            return f"{text}; repaired: the cursor was {format_time(self.repaired_from)}{where}"
        if self.ahead:
            return (
                f"{text}; the cursor is later than now minus the lag ({format_time(self.settled_end)}), "
                f"so every load finds nothing: run `{self.repair or 'zendesk-audit repair-cursor'}`{where}"
            )
        return text + where


def read_cursor(pipeline: dlt.Pipeline, subdomain: str, settled: datetime) -> CursorReport:
    """The account's cursor, as restored from the destination, against the settled end."""
    restore_state(pipeline)
    return _report(pipeline, subdomain, settled)


def _report(pipeline: dlt.Pipeline, subdomain: str, settled: datetime) -> CursorReport:
    records, latest = latest_loaded(pipeline, subdomain)
    return CursorReport(subdomain, pipeline.pipeline_name, saved_cursor(pipeline.state), settled, records, latest)


def repair_cursor(pipeline: dlt.Pipeline, subdomain: str, start: datetime, settled: datetime) -> CursorReport:
    """Move a cursor that is ahead of the settled end back, in the local and the destination's state.

    The new cursor is the latest `created_at` the API load wrote for the account, or `start` when
    it wrote none, and never later than `settled`. A cursor that is not ahead is left alone. The
    caller holds the load lock.

    Raises:
        ZendeskAuditError: the destination cannot be read or written.
    """
    from zendesk_audit.load.runner import load_pending

    restore_state(pipeline)
    if pipeline.has_pending_data:  # a killed run's package: load it first, as the next load would
        load_pending(pipeline)
    report = _report(pipeline, subdomain, settled)
    if not report.ahead:
        return report
    target = min(report.latest_loaded or start, settled)
    with pipeline.managed_state(extract_state=True) as state:
        node: Any = state
        for key in _CURSOR_PATH:
            node = node[key]
        node["last_value"] = target
        # The hashes name the records seen in the old cursor's second; the new second is re-read
        # whole and the merge keeps each record once.
        node["unique_hashes"] = []
    load_pending(pipeline)  # the state package: the destination's copy is repaired too
    report.repaired_from, report.cursor = report.cursor, saved_cursor(pipeline.state)
    return report
