"""One Zendesk account's audit log into one destination, through the API: what `zendesk-audit load` does
for each account. The chunks, locks, signals and the after-load step are the load runner's."""
from __future__ import annotations

import itertools
import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import dlt
from dlt.sources import DltSource

from zendesk_audit.errors import CursorAheadError
from zendesk_audit.extract.cursor import repair_command
from zendesk_audit.extract.options import check_config_files
from zendesk_audit.extract.source import REJECTED_TABLE, ChunkReport, zendesk_audit_source
from zendesk_audit.load.dlt_settings import bounded_memory
from zendesk_audit.load.ducklake import is_ducklake
from zendesk_audit.load.pipeline import (
    arrow_file_format,
    create_destination,
    create_pipeline,
    current_cursor,
    loader_file_format,
    write_lock,
)
from zendesk_audit.load.progress import LoadProgress, ProgressMode
from zendesk_audit.load.runner import Chunk, ChunkTotals, LoadOptions, build_models_after, run_chunks
from zendesk_audit.load.state_layout import account_pipeline_name
from zendesk_audit.settings import (
    DEFAULT_CHUNK_PAGES,
    DEFAULT_CHUNK_SECONDS,
    DEFAULT_DATASET_NAME,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_PIPELINE_NAME,
)
from zendesk_audit.zendesk_api.stats import RequestStats


@dataclass
class LoadResult:
    """What one run did, for the summary line and `--json`."""

    status: str
    records_loaded: int
    records_rejected: int
    requests: int
    list_requests: int
    retries: int
    rate_limit_waits: int
    pages: int
    seconds: float
    destination: str
    dataset: str
    cursor: str | None = None
    # The account (the first chunk's `accounts` row says which).
    subdomain: str | None = None
    # The dlt pipeline that holds this database's state: `dlt pipeline <name> info` shows it.
    pipeline_name: str | None = None
    load_ids: list[str] = field(default_factory=list)
    # Set when a step after the load failed: status is then "models_failed" or "alerts_failed".
    after_load_error: str | None = None
    # The process's peak resident memory at the end of the run, for sizing workers.
    peak_rss_mb: float | None = None
    # What `zendesk-audit models build` did after the load, when it ran.
    models: dict[str, Any] | None = None
    models_summary: str | None = None
    # The zone this load recorded for local times, its source, and why it fell back to UTC.
    time_zone: str | None = None
    time_zone_source: str | None = None
    time_zone_reason: str | None = None
    # Copies of a record that Zendesk sent more than once in this run, kept once (the latest).
    records_duplicated: int = 0
    # Seconds by phase, for an orchestrator's charts: fetch (dlt's extract step: the requests, their
    # decoding and the Arrow batches), normalize, load (dlt's steps, summed over the chunks) and
    # models (the whole build after the load: the lock, the no-op check, dbt's start, parse and runs).
    # `seconds` is the load from the first request to the last commit (fetch + normalize + load and
    # what runs between them); `process_seconds` is the whole process as the user waits for it, from
    # its start (Python's own start and imports included) until the result, models included.
    phases: dict[str, float] = field(default_factory=dict)
    process_seconds: float | None = None
    # On a DuckLake, the snapshot this load's last chunk committed (`id`, `time`): `--as-of` reads it.
    lake_snapshot: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_line(self) -> str:
        zone = ""
        if self.time_zone:
            zone = f"; local times in {self.time_zone} ({self.time_zone_source})"
            zone += f": {self.time_zone_reason}" if self.time_zone_reason else ""
        return (
            f"loaded {self.records_loaded:,} audit log records into {self.destination} dataset "
            f"{self.dataset} in {self.seconds:.1f} s{self._phases_text()}: {self.requests:,} requests, {self.retries:,} retries, "
            f"{self.rate_limit_waits:,} rate-limit waits; cursor at {self.cursor or 'start'}"
            + (f"; {self.records_rejected:,} rejected into {REJECTED_TABLE}" if self.records_rejected else "")
            + (f"; {self.records_duplicated:,} duplicate records kept once" if self.records_duplicated else "")
            + zone
            + (f"; lake snapshot {self.lake_snapshot['id']}" if self.lake_snapshot else "")
            + (f"; dlt pipeline {self.pipeline_name}" if self.pipeline_name else "")
        )

    def _phases_text(self) -> str:
        shown = [f"{name} {self.phases[name]:.1f} s" for name in ("fetch", "normalize", "load") if name in self.phases]
        return f" ({', '.join(shown)})" if shown else ""

    def lines(self) -> list[str]:
        """The summary, then the models' line when they were built."""
        return [self.summary_line(), *([self.models_summary] if self.models_summary else [])]


def process_seconds() -> float | None:
    """Seconds since this process started (Linux's /proc: the kernel's start time, so Python's own
    start and the imports count too); None where /proc is missing."""
    try:
        with open("/proc/self/stat") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(max(0.0, up - started_ticks / os.sysconf("SC_CLK_TCK")), 3)


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, because ru_maxrss survives exec and so
    counts the parent's memory too when an orchestrator forks the load."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def api_chunk(pipeline: dlt.Pipeline, source: DltSource) -> Chunk:
    """The source with each table's file format: Arrow tables in `arrow_file_format`, dict rows
    (the accounts, the rejected records) in `loader_file_format`."""
    file_format = loader_file_format(pipeline)
    arrow_format = arrow_file_format(pipeline)
    if "audit_logs" in source.resources:
        audit_logs = source.resources["audit_logs"]
        if file_format:
            # pipeline.run sets the format on resources, not on table variants such as the rejected table.
            audit_logs.apply_hints(table_name=REJECTED_TABLE, file_format=file_format, create_table_variant=True)
        if arrow_format != file_format:
            audit_logs.apply_hints(file_format=arrow_format)
    # A format given to run() would override the Arrow tables' own; the dict tables then take the destination's.
    return Chunk(source, file_format if arrow_format == file_format else None)


def run_load(
    pipeline: dlt.Pipeline,
    make_source: Callable[[], DltSource],
    stats: RequestStats,
    wait_for_lock: float = 0.0,
    report: ChunkReport | None = None,
) -> LoadResult:
    """Load the API's records chunk after chunk until the source reaches the settled end (`load.runner`).

    Args:
        make_source: builds a fresh `zendesk_audit_source` for each chunk (a dlt source runs once).
        report: the `chunk_report` those sources were given: it says whether another chunk
            remains and which time zone was chosen. None: one chunk.

    Raises:
        ZendeskAuditError: what the user can fix (credentials, plan, destination, a concurrent run).
    """
    started = time.monotonic()
    report = report or ChunkReport()
    totals = ChunkTotals()

    def next_chunk(number: int) -> Chunk:
        source = make_source()
        if number:  # later chunks: the account settings were loaded by the first
            source = source.with_resources("audit_logs")
        return api_chunk(pipeline, source)

    run_chunks(pipeline, next_chunk, report, totals, wait_for_lock)
    zone = report.time_zone
    return LoadResult(
        status="ok",
        # The merge drops the repeats staged in a package; normalize counted them.
        records_loaded=totals.rows("audit_logs") - stats.duplicates_in_package,
        records_rejected=totals.rows(REJECTED_TABLE),
        records_duplicated=stats.duplicates,
        requests=stats.requests,
        list_requests=stats.list_requests,
        retries=stats.retries,
        rate_limit_waits=stats.rate_limit_waits,
        pages=stats.pages,
        seconds=round(time.monotonic() - started, 3),
        peak_rss_mb=peak_rss_mb(),
        destination=pipeline.destination.destination_name,
        dataset=pipeline.dataset_name,
        cursor=current_cursor(pipeline),
        pipeline_name=pipeline.pipeline_name,
        load_ids=totals.load_ids,
        phases=dict(totals.phases),
        subdomain=report.subdomain,
        time_zone=zone.time_zone if zone else None,
        time_zone_source=zone.source if zone else None,
        time_zone_reason=zone.reason if zone else None,
        lake_snapshot=load_snapshot(pipeline, totals.load_ids),
    )


def load_snapshot(pipeline: dlt.Pipeline, load_ids: list[str]) -> dict[str, Any] | None:
    """On a DuckLake, the snapshot the last of `load_ids` committed; None elsewhere or when nothing loaded."""
    from zendesk_audit.load.ducklake import committed_snapshot, is_ducklake, lake_name

    if not load_ids or not is_ducklake(pipeline.destination):
        return None
    with pipeline.sql_client() as client:
        found = committed_snapshot(client, lake_name(pipeline.destination),
                                   client.make_qualified_table_name("_dlt_loads"), load_ids[-1])
    return found.as_dict() if found else None


def load_account(
    source_args: dict[str, Any],
    destination: str | None = None,
    dataset_name: str = DEFAULT_DATASET_NAME,
    duckdb_path: str = DEFAULT_DUCKDB_PATH,
    progress: ProgressMode | None = None,
    wait_for_lock: float = 0.0,
    chunk_pages: int = DEFAULT_CHUNK_PAGES,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    build_models: bool = False,
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
) -> LoadResult:
    """One account into one destination: what `zendesk-audit load` does for each account.

    Args:
        source_args: arguments for `zendesk_audit_source`; what is absent comes from dlt config.
        progress: "line" (a live line, for terminals), "log" (plain lines, for orchestrator logs) or None.
        chunk_pages, chunk_seconds: a chunk is committed after about this many pages or seconds of
            fetching, whichever comes first (a kill re-fetches at most one chunk).
        build_models: build the SQL models after a successful load (not on the filesystem destination).
        pipeline_name: one per account when several share a dataset (their cursors stay apart).

    Raises:
        ZendeskAuditError: the load failed (nothing of the chunk in flight committed).
        AfterLoadError: the load committed and the models build after it failed (exit 4).
    """
    options = LoadOptions(destination, dataset_name, duckdb_path, wait_for_lock, progress, chunk_pages,
                          chunk_seconds, build_models)
    return load_one_account(source_args, options, pipeline_name)


def load_one_account(
    source_args: dict[str, Any], options: LoadOptions, pipeline_name: str = DEFAULT_PIPELINE_NAME
) -> LoadResult:
    """`load_account` with the options as one `LoadOptions` (what `accounts` passes on)."""
    check_config_files()
    display = LoadProgress(options.progress) if options.progress else None
    stats = RequestStats(on_change=display.on_stats if display else None)
    report = ChunkReport()
    extra = {"chunk_pages": options.chunk_pages, "chunk_seconds": options.chunk_seconds, "stats": stats,
             "chunk_report": report}
    # Validate the destination and the first source before the pipeline exists: a bad option writes nothing.
    target = create_destination(options.destination, options.duckdb_path)
    first = zendesk_audit_source(**source_args, **extra)
    # A DuckLake keeps each account's state and staging apart, named by its subdomain, even for one
    # account: several machines may each load theirs into it at once (`state_layout.account_pipeline_name`).
    subdomain = source_args.get("subdomain") or dlt.config.get("sources.zendesk_audit.subdomain", str)
    if is_ducklake(target) and pipeline_name == DEFAULT_PIPELINE_NAME and subdomain:
        pipeline_name = account_pipeline_name(subdomain)
    pipeline = create_pipeline(target, options.dataset_name, options.duckdb_path, pipeline_name=pipeline_name,
                               progress=display, staging_key=subdomain)
    # The first source (already checked), then a fresh one per chunk.
    sources = itertools.chain([first], iter(lambda: zendesk_audit_source(**source_args, **extra), None))

    # The lock spans the models build too: a load that starts meanwhile waits or fails in one line.
    with write_lock(pipeline, options.wait_for_lock, keep_file_open=False):
        try:
            with bounded_memory(pipeline.pipeline_name):
                result = run_load(pipeline, lambda: next(sources), stats, options.wait_for_lock, report)
        except CursorAheadError as exc:
            exc.repair_command = repair_command(
                [exc.subdomain] if exc.subdomain else [], options.destination, options.dataset_name,
                options.duckdb_path,
                # A re-scan's start is its window's, not where a first load starts.
                start=None if source_args.get("end") else source_args.get("start"),
                lag_seconds=source_args.get("lag_seconds"),
            )
            raise
        finally:
            if display:
                display.close()
        build_models_after(pipeline, result, options)
    result.process_seconds = process_seconds()
    return result
