"""Build and run the dlt pipeline: DuckDB file by default, Parquet load files, any destination by name.

dlt state is kept per destination and dataset: dlt keys it by pipeline name only, so two loads
named `zendesk_audit` into two databases would otherwise share one cursor and the second database
would silently miss everything before it. Each database and dataset gets its own pipeline name
instead, in dlt's own pipelines folder (see `state_layout`), where dlt's CLI finds it.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import dlt
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.destination.exceptions import DestinationException
from dlt.common.destination.reference import Destination
from dlt.common.exceptions import MissingDependencyException
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.runtime import signals
from dlt.common.runtime.signals import SignalReceivedException
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources import DltSource

from zendesk_audit.client import RequestStats
from zendesk_audit.config import check_config_files
from zendesk_audit.cursor import destination_arguments, format_time, repair_command, saved_cursor
from zendesk_audit.destination_errors import destination_line, destination_problem
from zendesk_audit.dlt_settings import bounded_memory, own_pipeline
from zendesk_audit.errors import (
    AfterLoadError,
    ConfigurationError,
    CursorAheadError,
    Interrupted,
    LoadFailed,
    ZendeskAuditError,
    config_problem,
    find_cause,
    first_line,
    missing_setting,
)
from zendesk_audit.locking import destination_lock, duckdb_database, duckdb_session
from zendesk_audit.postgres_copy import uses_bulk_path, with_bulk_path
from zendesk_audit.private_files import owner_only
from zendesk_audit.progress import LoadProgress, ProgressMode
from zendesk_audit.settings import (
    DEFAULT_CHUNK_PAGES,
    DEFAULT_CHUNK_SECONDS,
    DEFAULT_DATASET_NAME,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_PIPELINE_NAME,
    PARQUET_DESTINATIONS,
)
from zendesk_audit.source import REJECTED_TABLE
from zendesk_audit.state_layout import (
    adopt_destination_state,
    adopt_legacy_folders,
    destination_fingerprint,  # noqa: F401 - re-exported: part of this module's interface
    state_pipeline_name,
)
from zendesk_audit.time_zones import TimeZoneChoice

T = TypeVar("T")


def create_destination(name: str | None = None, duckdb_path: str = DEFAULT_DUCKDB_PATH, read_only: bool = False) -> Destination:
    """`duckdb` (a file, by default `./zendesk.duckdb`) or any dlt destination by name.

    `read_only` opens the DuckDB file for reading only: several readers at once, none while a load
    writes. PostgreSQL comes with the bulk path for Arrow tables (`postgres_copy`).

    Raises:
        ConfigurationError: an unknown destination, a missing driver, or a DuckDB path that is a folder.
    """
    if not name or name == "duckdb":
        if os.path.isdir(duckdb_path):
            raise ConfigurationError(
                f"--duckdb-path {duckdb_path} is a folder, not a DuckDB file: pass a file, "
                f"e.g. {os.path.join(duckdb_path, 'zendesk.duckdb')}"
            )
        if read_only:
            from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

            return dlt.destinations.duckdb(credentials=DuckDbCredentials(os.path.abspath(duckdb_path), read_only=True))
        return dlt.destinations.duckdb(credentials=os.path.abspath(duckdb_path))
    try:
        return with_bulk_path(Destination.from_reference(name))
    except MissingDependencyException:
        raise ConfigurationError(f"destination {name!r} needs its driver: pip install 'zendesk-audit[{name}]'") from None
    except DestinationException:
        raise ConfigurationError(
            f"unknown destination {name!r}: use duckdb, postgres, snowflake, bigquery, databricks, "
            "filesystem or another dlt destination name"
        ) from None


def create_pipeline(
    destination: str | Destination | None = None,
    dataset_name: str = DEFAULT_DATASET_NAME,
    duckdb_path: str = DEFAULT_DUCKDB_PATH,
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    pipelines_dir: str | None = None,
    progress: Any = None,
    read_only: bool = False,
) -> dlt.Pipeline:
    """The dlt pipeline of `pipeline_name` for this database and dataset, with its state.

    Its dlt name is `<pipeline_name>_<destination>_<dataset>_<key>` (`state_layout`), so that each
    database keeps its own cursor. State of the older layout is adopted on the way: the local
    folders, or else the destination's saved state when this name has none locally.

    Args:
        destination: a name (`duckdb`, `postgres`, `filesystem`, ...) or a dlt Destination.
        dataset_name: the schema (or folder) that gets the tables.
        duckdb_path: the DuckDB file when the destination is DuckDB.
        pipeline_name: the account's base name: `zendesk_audit`, `zendesk_audit_<subdomain>` or
            `zendesk_audit_csv`.
        pipelines_dir: where local state lives; default: dlt's pipelines folder (`$DLT_DATA_DIR/pipelines`).
        read_only: open a DuckDB file read-only (`report`, `evidence`, `models status`).

    Raises:
        ZendeskAuditError: the destination's saved state is needed and cannot be read.
    """
    destination = with_bulk_path(destination) if isinstance(destination, Destination) else create_destination(
        destination, duckdb_path, read_only=read_only
    )
    name = state_pipeline_name(pipeline_name, destination, dataset_name)
    # Arrow tables keep the lineage columns that dict rows get, for this pipeline only (`dlt_settings`).
    own_pipeline(name)
    if pipelines_dir is None:
        pipelines_dir = get_dlt_pipelines_dir()
        adopt_legacy_folders(pipelines_dir)  # only dlt's own folder held the older layout
    adopt_destination_state(pipelines_dir, name, pipeline_name, destination, dataset_name)
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=destination,
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir,
        progress=progress,
    )
    _remember_duckdb_file(pipeline, destination)
    return pipeline


def _remember_duckdb_file(pipeline: dlt.Pipeline, destination: Destination) -> None:
    """Keep the DuckDB file's path in the local state, where `dlt pipeline <name> drop|sync` look
    for it (dlt's `duckdb_database` key): without it dlt would open `<name>.duckdb` in the
    current folder instead."""
    credentials = destination.config_params.get("credentials")
    if destination.destination_type != "dlt.destinations.duckdb" or not isinstance(credentials, str):
        return
    try:
        known = pipeline.get_local_state_val("duckdb_database")
    except KeyError:
        known = None
    if known != credentials:
        pipeline.set_local_state_val("duckdb_database", credentials)


def loader_file_format(pipeline: dlt.Pipeline) -> str | None:
    """Parquet where the destination loads it natively (tens of times faster than inserts).

    Elsewhere SQL inserts for rows given as dicts: dlt's CSV writer cannot tell None from "" in a
    dict. Arrow tables take `arrow_file_format`.
    """
    destination = pipeline.destination
    if destination is None:
        return None
    if destination.destination_name in PARQUET_DESTINATIONS:
        return "parquet"
    if "insert_values" in destination.capabilities().supported_loader_file_formats:
        return "insert_values"
    return None


def arrow_file_format(pipeline: dlt.Pipeline) -> str | None:
    """The format of the Arrow tables of `audit_logs`: CSV loaded with COPY on PostgreSQL
    (`postgres_copy`: NULL and "" kept apart), else what `loader_file_format` chose."""
    if uses_bulk_path(pipeline.destination):
        return "csv"
    return loader_file_format(pipeline)


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_line(self) -> str:
        zone = ""
        if self.time_zone:
            zone = f"; local times in {self.time_zone} ({self.time_zone_source})"
            zone += f": {self.time_zone_reason}" if self.time_zone_reason else ""
        return (
            f"loaded {self.records_loaded:,} audit log records into {self.destination} dataset "
            f"{self.dataset} in {self.seconds:.1f} s: {self.requests:,} requests, {self.retries:,} retries, "
            f"{self.rate_limit_waits:,} rate-limit waits; cursor at {self.cursor or 'start'}"
            + (f"; {self.records_rejected:,} rejected into {REJECTED_TABLE}" if self.records_rejected else "")
            + (f"; {self.records_duplicated:,} duplicate records kept once" if self.records_duplicated else "")
            + zone
            + (f"; dlt pipeline {self.pipeline_name}" if self.pipeline_name else "")
        )


@contextmanager
def write_lock(
    pipeline: dlt.Pipeline, wait_for_lock: float = 0.0, command: str = "load", keep_file_open: bool = True
) -> Iterator[None]:
    """The destination's write lock, shared by `load` and `import-csv` (see `locking`).

    It follows the database, not the state folder: two workers, two DLT_DATA_DIR or a symlinked
    DuckDB path all meet at it. With `keep_file_open` a DuckDB file also stays open for the block,
    so no reader gets in between two chunks; without, only the lock (a load holds it through
    its models build, which opens the file afresh: the load's memory settings stay with the load).

    Raises:
        LoadInProgress: another load or import holds the lock after the wait.
        DatabaseBusy: another process keeps the DuckDB file open after the wait.
    """
    with destination_lock(
        pipeline.destination,
        pipeline.dataset_name,
        destination_fingerprint(pipeline.destination, pipeline.dataset_name),
        wait_for_lock,
        command,
    ):
        database = duckdb_database(pipeline.destination) if keep_file_open else None
        with duckdb_session(database, read_only=False, wait_seconds=wait_for_lock):
            yield


def current_cursor(pipeline: dlt.Pipeline) -> str | None:
    """The created_at the next incremental run starts from, if any run has set it."""
    value = saved_cursor(pipeline.state)
    return None if value is None else format_time(value)


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


def run_load(
    pipeline: dlt.Pipeline,
    make_source: Callable[[], DltSource],
    stats: RequestStats,
    wait_for_lock: float = 0.0,
) -> LoadResult:
    """Run extract, normalize and load in chunks until the source reaches the settled end.

    Each chunk is one dlt run that commits its data and its cursor together, so a crash or a
    kill loses at most the chunk in flight (see `chunk_pages`), never what was committed.
    SIGTERM and SIGINT are intercepted (on the main thread): the run stops at the next page,
    wait or load job, commits nothing partial, and raises Interrupted.

    Args:
        make_source: builds a fresh `zendesk_audit_source` for each chunk (a dlt source runs once).

    Raises:
        ZendeskAuditError: what the user can fix (credentials, plan, destination, a concurrent run).
    """
    started = time.monotonic()
    loaded = rejected = 0
    load_ids: list[str] = []
    # The state folder holds run details (trace.pickle keeps each step's exception): owner-only.
    with (
        owner_only(pipeline.working_dir),
        write_lock(pipeline, wait_for_lock),
        signals.intercepted_signals(),
    ):
        if pipeline.has_pending_data:
            # A run killed after extract left a package: dlt would load it and skip new data.
            row_counts, pending_load_ids = _run_chunk(pipeline, None)
            loaded += row_counts.get("audit_logs", 0)
            rejected += row_counts.get(REJECTED_TABLE, 0)
            load_ids.extend(pending_load_ids)
        while True:
            stats.page_limit_reached = False
            source = make_source()
            if stats.pages:  # later chunks: the account settings were loaded by the first
                source = source.with_resources("audit_logs")
            row_counts, chunk_load_ids = _run_chunk(pipeline, source)
            loaded += row_counts.get("audit_logs", 0)
            rejected += row_counts.get(REJECTED_TABLE, 0)
            load_ids.extend(chunk_load_ids)
            if not stats.page_limit_reached:
                break
    return LoadResult(
        status="ok",
        # The merge drops the repeats staged in a package; normalize counted them.
        records_loaded=loaded - stats.duplicates_in_package,
        records_rejected=rejected,
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
        load_ids=load_ids,
    )


def _run_chunk(pipeline: dlt.Pipeline, source: DltSource | None) -> tuple[dict[str, int], list[str]]:
    """One dlt run (None: only the pending packages): (row counts per table, load ids).

    Failures come out as ZendeskAuditError where the user can act on them.
    """
    file_format = loader_file_format(pipeline)
    arrow_format = arrow_file_format(pipeline)
    if source is not None and "audit_logs" in source.resources:
        audit_logs = source.resources["audit_logs"]
        if file_format:
            # pipeline.run sets the format on resources, not on table variants such as the rejected table.
            audit_logs.apply_hints(table_name=REJECTED_TABLE, file_format=file_format, create_table_variant=True)
        if arrow_format != file_format:
            audit_logs.apply_hints(file_format=arrow_format)
    try:
        # A format given to run() would override the Arrow tables' own; the dict tables then take the destination's.
        info = pipeline.run(source, loader_file_format=file_format if arrow_format == file_format else None)
    except PipelineStepFailed as exc:
        failure = step_failure(pipeline, exc)
        if failure is exc:
            raise
        raise failure from None
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace else None
    return (dict(normalize.row_counts) if normalize else {}), (list(info.loads_ids) if info else [])


def step_failure(pipeline: dlt.Pipeline, exc: PipelineStepFailed) -> BaseException:
    """What to raise for a failed dlt step: the user's error in one line where they can act on it,
    else dlt's own failure (a bug: it keeps its traceback)."""
    signalled = find_cause(exc, SignalReceivedException)
    if signalled is not None:
        return Interrupted(
            f"stopped by signal {signalled.signal_code} during {exc.step}: the chunk in flight was not committed; "
            "run again to continue"
        )
    user_error = find_cause(exc, ZendeskAuditError)
    if user_error is not None:
        return user_error
    # A file another process holds, a server that refuses: one line, not dlt's "check your credentials".
    unreachable = destination_problem(exc, duckdb_database(pipeline.destination))
    if unreachable is not None:
        return unreachable
    config_error = find_cause(exc, ConfigurationException)
    if config_error is not None:
        return missing_setting(config_error, f"{exc.step} step: ")
    if exc.step in ("sync", "load") or isinstance(exc.__cause__, DestinationException):
        return LoadFailed(
            f"the {exc.step} step into {pipeline.destination.destination_name} failed: "
            f"{destination_line(exc.__cause__ or exc)}; nothing of this run was committed, "
            "fix the destination and run again"
        )
    return exc


def load_pending(pipeline: dlt.Pipeline) -> None:
    """Normalize and load what is already extracted: a killed run's package, or a state change.

    Raises:
        ZendeskAuditError: the destination failed the load.
    """
    _run_chunk(pipeline, None)


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
    """One account into one destination: what `zendesk-audit load` does.

    Args:
        source_args: arguments for `zendesk_audit_source`; what is absent comes from dlt config.
        progress: "line" (a live line, for terminals), "log" (plain lines, for orchestrator logs) or None.
        chunk_pages, chunk_seconds: a chunk is committed after about this many pages or seconds of
            fetching, whichever comes first (a kill re-fetches at most one chunk).
        build_models: build the SQL models after a successful load (not on the filesystem destination).
        pipeline_name: one per account when several share a dataset (their cursors stay apart).
    """
    from zendesk_audit.source import zendesk_audit_source

    check_config_files()
    display = LoadProgress(progress) if progress else None
    stats = RequestStats(on_change=display.on_stats if display else None)
    # Validate the destination and the first source before the pipeline exists: a bad option writes nothing.
    target = create_destination(destination, duckdb_path)
    chosen: list[TimeZoneChoice] = []
    extra = {"chunk_pages": chunk_pages, "chunk_seconds": chunk_seconds, "stats": stats, "on_time_zone": chosen.append}
    sources = [zendesk_audit_source(**source_args, **extra)]
    pipeline = create_pipeline(target, dataset_name, duckdb_path, pipeline_name=pipeline_name, progress=display)

    def make_source() -> DltSource:
        return sources.pop() if sources else zendesk_audit_source(**source_args, **extra)

    # The lock spans the models build too: a load that starts meanwhile waits or fails in one line.
    with write_lock(pipeline, wait_for_lock, keep_file_open=False):
        try:
            with bounded_memory(pipeline.pipeline_name):
                result = run_load(pipeline, make_source, stats, wait_for_lock=wait_for_lock)
        except CursorAheadError as exc:
            exc.repair_command = repair_command(
                [exc.subdomain] if exc.subdomain else [], destination, dataset_name, duckdb_path,
                # A re-scan's start is its window's, not where a first load starts.
                start=None if source_args.get("end") else source_args.get("start"),
                lag_seconds=source_args.get("lag_seconds"),
            )
            raise
        finally:
            if display:
                display.close()
        if chosen:
            result.time_zone, result.time_zone_source, result.time_zone_reason = (
                chosen[-1].time_zone, chosen[-1].source, chosen[-1].reason
            )
        if build_models and result.destination != "filesystem":
            from zendesk_audit.models import build_models as build

            with write_lock(pipeline, wait_for_lock, "models build"):
                built = after_load(
                    result, "models", lambda: build(pipeline), models_command(destination, dataset_name, duckdb_path)
                )
            result.models, result.models_summary = built.as_dict(), built.summary_line()
    return result


def models_command(destination: str | None, dataset_name: str, duckdb_path: str) -> str:
    """`zendesk-audit models build` pointed at the database a load or an import wrote."""
    return " ".join(["zendesk-audit models build", *destination_arguments(destination, dataset_name, duckdb_path)])


def after_load(result: Any, step: str, run: Callable[[], T], rerun: str, what: str = "the load") -> T:
    """Run a step (models, alerts) after `result`'s data was committed.

    Whatever the user can fix in that step ends as `AfterLoadError` (exit 4), carrying `result`
    with `status = "<step>_failed"`: neither exit 2 ("nothing written") nor 1 ("the run failed") is
    true once the data is in, and the caller still prints the load's summary first.

    Raises:
        AfterLoadError: the step failed; `rerun` is the command that runs it again on its own.
    """
    try:
        return run()
    except AfterLoadError:
        raise
    except ZendeskAuditError as exc:
        problem = first_line(exc)
    except ConfigurationException as exc:
        problem = f"configuration: {config_problem(exc)}"
    raise after_load_failure(result, step, problem, rerun, what)


def after_load_failure(result: Any, step: str, problem: str, rerun: str, what: str = "the load") -> AfterLoadError:
    """Mark `result` as committed with `step` failed after it, and the error that says so (exit 4)."""
    result.status = f"{step}_failed"
    result.after_load_error = problem
    return AfterLoadError(step, problem, rerun, result, what)
