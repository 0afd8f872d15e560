"""The one way data goes into the destination, for the API load and the CSV import alike.

A load is a series of chunks. Each chunk is one dlt run that commits its rows and its state
together, so a crash or a kill loses at most the chunk in flight, never what was committed:

1. the write lock on the database, the state folder owner-only, SIGTERM and SIGINT intercepted
   (the run stops at the next page, wait or load job, commits nothing partial, `Interrupted`);
2. a package a killed or failed run left behind is loaded first (dlt would otherwise load it and
   skip the new data); a failed chunk's package is kept, not aborted, for the next run to finish;
3. chunks run until the source's `ChunkReport` says nothing more remains;
4. a failed dlt step becomes the user's error in one line (`step_failure`);
5. after the data is committed, the models (and with `load --alerts`, the alerts) run as one
   after-load step: what fails there is exit 4 (`AfterLoadError`), the summary printed first.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import dlt
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.destination.exceptions import DestinationException
from dlt.common.exceptions import MissingDependencyException
from dlt.common.runtime import signals
from dlt.common.runtime.signals import SignalReceivedException
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources import DltSource

from zendesk_audit.errors import (
    AfterLoadError,
    Interrupted,
    LoadFailed,
    StepProblem,
    ZendeskAuditError,
    config_problem,
    find_cause,
    first_line,
    missing_setting,
)
from zendesk_audit.extract.cursor import destination_arguments
from zendesk_audit.extract.source import ChunkReport
from zendesk_audit.load.destination_errors import destination_line, destination_problem
from zendesk_audit.load.iceberg import ICEBERG, as_iceberg_source, is_iceberg
from zendesk_audit.load.locking import duckdb_database
from zendesk_audit.load.pipeline import lake_models_pipeline, missing_extra, open_database, write_lock
from zendesk_audit.load.private_files import owner_only
from zendesk_audit.load.progress import ProgressMode
from zendesk_audit.settings import (
    DEFAULT_CHUNK_PAGES,
    DEFAULT_CHUNK_SECONDS,
    DEFAULT_DATASET_NAME,
    DEFAULT_DUCKDB_PATH,
)

if TYPE_CHECKING:
    from zendesk_audit.audit.alerts import AlertsResult
    from zendesk_audit.models.build import BuildResult

T = TypeVar("T")


@dataclass(frozen=True)
class LoadOptions:
    """Where a load or an import writes and how: the options `load` and `import-csv` share."""

    destination: str | None = None
    dataset_name: str = DEFAULT_DATASET_NAME
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    wait_for_lock: float = 0.0
    # "line" (a live line, for terminals), "log" (plain lines, for orchestrator logs) or None.
    progress: ProgressMode | None = None
    # A chunk is committed after about this many pages or seconds of fetching, whichever first.
    chunk_pages: int = DEFAULT_CHUNK_PAGES
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS
    # Build the SQL models once the data is committed (never on the filesystem destination).
    build_models: bool = False
    # The team's folder of Sigma rules for that build (None: config models.detections_dir).
    detections_dir: str | None = None

    def command_arguments(self) -> list[str]:
        """These options as `zendesk-audit` arguments, for the command a message tells to run."""
        return destination_arguments(self.destination, self.dataset_name, self.duckdb_path)

    def models_command(self) -> str:
        """`zendesk-audit models build` pointed at the database this load writes."""
        extra = [f"--detections-dir {self.detections_dir}"] if self.detections_dir else []
        return " ".join(["zendesk-audit models build", *self.command_arguments(), *extra])


# dlt's step -> the phase `--json` reports it as.
PHASES = {"extract": "fetch", "normalize": "normalize", "load": "load"}


@dataclass(frozen=True)
class Chunk:
    """One dlt run's input: the source and the file format its dict rows are written in."""

    source: DltSource
    loader_file_format: str | None = None


@dataclass
class ChunkTotals:
    """What the committed chunks of one run loaded; kept by the caller, so it is known after a failure."""

    row_counts: dict[str, int] = field(default_factory=dict)
    load_ids: list[str] = field(default_factory=list)
    chunks: int = 0
    # Seconds in dlt's steps over every chunk, by phase (`PHASES`): see `add_phases`.
    phases: dict[str, float] = field(default_factory=dict)

    def add_phases(self, pipeline: dlt.Pipeline) -> None:
        """Add the last dlt run's step times: `fetch` is dlt's extract step, which drives the source
        (the requests, their decoding and the Arrow batches); `normalize` and `load` are dlt's."""
        trace = pipeline.last_trace
        for step in trace.steps if trace else []:
            phase = PHASES.get(step.step)
            if phase and step.finished_at is not None:
                seconds = (step.finished_at - step.started_at).total_seconds()
                self.phases[phase] = round(self.phases.get(phase, 0.0) + seconds, 3)

    def rows(self, table: str) -> int:
        return self.row_counts.get(table, 0)

    def add(self, row_counts: dict[str, int], load_ids: list[str]) -> None:
        for table, count in row_counts.items():
            self.row_counts[table] = self.row_counts.get(table, 0) + count
        self.load_ids.extend(load_ids)


def run_chunks(
    pipeline: dlt.Pipeline,
    next_chunk: Callable[[int], Chunk],
    report: ChunkReport,
    totals: ChunkTotals,
    wait_for_lock: float = 0.0,
    command: str = "load",
) -> None:
    """Commit chunk after chunk until the source reports nothing more (see the module's docstring).

    Args:
        next_chunk: builds chunk number `n` (from 0), whose source fills `report`.
        report: the one the chunks' sources fill; `more` is cleared before each chunk.
        totals: filled as chunks commit (also when a later one fails).
        command: names the holder of the write lock in a concurrent run's error line.

    Raises:
        ZendeskAuditError: what the user can act on (credentials, plan, destination, a
            concurrent run, a bad CSV row); `Interrupted` for SIGTERM or SIGINT.
    """
    # The state folder holds run details (trace.pickle keeps each step's exception): owner-only.
    with owner_only(pipeline.working_dir), write_lock(pipeline, wait_for_lock, command), signals.intercepted_signals():
        if pipeline.has_pending_data:
            totals.add(*_run_chunk(pipeline, None))
            totals.add_phases(pipeline)
        while True:
            report.more = False
            totals.add(*_run_chunk(pipeline, next_chunk(totals.chunks)))
            totals.add_phases(pipeline)
            totals.chunks += 1
            if not report.more:
                return


def _run_chunk(pipeline: dlt.Pipeline, chunk: Chunk | None) -> tuple[dict[str, int], list[str]]:
    """One dlt run (None: only the pending packages): (row counts per table, load ids)."""
    lake = is_iceberg(pipeline.destination)
    try:
        if chunk is None:
            info = pipeline.run(None)
        elif lake:  # every table of the run (variants too) as an Iceberg table, merged by `IcebergMergeJob`
            info = pipeline.run(as_iceberg_source(chunk.source), loader_file_format=chunk.loader_file_format,
                                table_format=ICEBERG)
        else:
            info = pipeline.run(chunk.source, loader_file_format=chunk.loader_file_format)
    except PipelineStepFailed as exc:
        failure = step_failure(pipeline, exc)
        if failure is exc:
            raise
        raise failure from None
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace else None
    return (dict(normalize.row_counts) if normalize else {}), (list(info.loads_ids) if info else [])


def load_pending(pipeline: dlt.Pipeline) -> None:
    """Normalize and load what is already extracted: a killed run's package, or a state change.

    Raises:
        ZendeskAuditError: the destination failed the load.
    """
    _run_chunk(pipeline, None)


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
    missing = find_cause(exc, MissingDependencyException)
    if missing is not None:
        return missing_extra(pipeline.destination.destination_name)
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


class CommittedResult(Protocol):
    """A command's result once its data is committed: a step after it may mark it failed."""

    status: str
    after_load_error: str | None


class ModelsResult(CommittedResult, Protocol):
    models: dict[str, object] | None
    models_summary: str | None


def after_load_step(result: CommittedResult, step: str, run: Callable[[], T], rerun: str, what: str = "the load") -> T:
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
    except StepProblem as exc:
        problem = exc.problem
    except ZendeskAuditError as exc:
        problem = first_line(exc)
    except ConfigurationException as exc:
        problem = f"configuration: {config_problem(exc)}"
    raise after_load_failure(result, step, problem, rerun, what)


def after_load_failure(
    result: CommittedResult, step: str, problem: str, rerun: str, what: str = "the load"
) -> AfterLoadError:
    """Mark `result` as committed with `step` failed after it, and the error that says so (exit 4)."""
    result.status = f"{step}_failed"
    result.after_load_error = problem
    return AfterLoadError(step, problem, rerun, result, what)


# How long a load's models build waits for another build on the same DuckLake: loads into a lake
# run side by side (`pipeline.write_lock`), so their builds meet at the lake's models lock.
LAKE_MODELS_WAIT_SECONDS = 600.0


def models_wait(pipeline: dlt.Pipeline, wait_for_lock: float) -> float:
    """`--wait-for-lock`, or on a DuckLake at least `LAKE_MODELS_WAIT_SECONDS`: a concurrent load's
    build there is expected, not a conflict to report."""
    from zendesk_audit.load.ducklake import is_ducklake

    return max(wait_for_lock, LAKE_MODELS_WAIT_SECONDS) if is_ducklake(pipeline.destination) else wait_for_lock


def build_models_after(
    pipeline: dlt.Pipeline, result: ModelsResult, options: LoadOptions, what: str = "the load"
) -> None:
    """The models after committed data, when `options.build_models` asks and the destination has
    SQL: the one place a load or an import builds them. The write lock spans the build, so a load
    that starts meanwhile waits or fails in one line.

    Raises:
        AfterLoadError: the build failed (exit 4); `result` says so too.
    """
    if is_iceberg(pipeline.destination):
        # The DuckDB file beside the lake, whose views follow every load, models or not.
        lake = pipeline
        pipeline = after_load_step(result, "models",
                                   lambda: lake_models_pipeline(lake, options.duckdb_path, options.wait_for_lock),
                                   options.models_command(), what)
    if not options.build_models or pipeline.destination.destination_name == "filesystem":
        return
    started = time.monotonic()
    try:
        # Only the lock: the models' process opens the DuckDB file itself.
        with write_lock(pipeline, models_wait(pipeline, options.wait_for_lock), "models build", keep_file_open=False):
            built = after_load_step(result, "models", lambda: _build_models(pipeline, options),
                                    options.models_command(), what)
    finally:
        phases = getattr(result, "phases", None)
        if phases is not None:  # the whole step: waiting for the lock, the build, dbt's start
            phases["models"] = round(time.monotonic() - started, 3)
    result.models, result.models_summary = built.as_dict(), built.summary_line()


def _build_models(pipeline: dlt.Pipeline, options: LoadOptions) -> BuildResult:
    """`build_models` after a load: the no-op check here (it needs neither dbt nor much memory), a
    build that starts dbt in a fresh process (`models.build_process`: the loader's memory and dbt's
    are not held at once). `seconds` covers both, as the user waits for them."""
    from zendesk_audit.models.build import unchanged_build
    from zendesk_audit.models.build_process import BuildRequest, build_in_child

    started = time.monotonic()
    built = unchanged_build(pipeline, detections_dir=options.detections_dir)
    if built is None and not sys.executable:  # an embedded interpreter cannot start another: build here
        from zendesk_audit.models.build import build_models

        built = build_models(pipeline, detections_dir=options.detections_dir)
    if built is None:
        hand_back_memory()
        # On `iceberg` the models live in the DuckDB file beside the lake (`lake_models_pipeline`).
        destination = "duckdb" if is_iceberg(options.destination) else options.destination
        built = build_in_child(BuildRequest.for_pipeline(pipeline, destination, options.duckdb_path,
                                                         options.detections_dir, options.wait_for_lock))
    built.seconds = round(time.monotonic() - started, 3)
    return built


def hand_back_memory() -> None:
    """Return what the load freed to the system before another process needs memory: Python's
    collector, then glibc's `malloc_trim` (freed heap pages otherwise stay in this process's RSS)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl, Windows): nothing to trim
        pass


@dataclass
class AlertsAfterLoad:
    """`load --alerts`: the alerts' result, or the after-load failure (exit 4) that replaced it."""

    alerts: AlertsResult | None = None
    failure: AfterLoadError | None = None


def alerts_after_load(
    result: CommittedResult, options: LoadOptions, min_severity: str, webhook: str | None
) -> AlertsAfterLoad:
    """`zendesk-audit alerts --since-last` after a committed load. A failure, webhook delivery
    included, is an after-load failure (exit 4) rather than the `alerts` command's 1."""
    from zendesk_audit.audit.alerts import run_alerts

    rerun = " ".join(["zendesk-audit alerts", *options.command_arguments(), f"--min-severity {min_severity}",
                      *(["--webhook URL"] if webhook else [])])

    def alerts_step() -> AlertsResult:
        with _database(options) as pipeline:
            return run_alerts(pipeline, min_severity=min_severity, webhook=webhook)

    try:
        alerts = after_load_step(result, "alerts", alerts_step, rerun)
    except AfterLoadError as exc:
        return AlertsAfterLoad(failure=exc)
    error = alerts.error_line()
    return AlertsAfterLoad(alerts, after_load_failure(result, "alerts", error, rerun) if error else None)


@contextmanager
def _database(options: LoadOptions) -> Iterator[dlt.Pipeline]:
    with open_database(
        options.destination or "duckdb", options.dataset_name, options.duckdb_path, options.wait_for_lock, read_only=False
    ) as pipeline:
        yield pipeline
