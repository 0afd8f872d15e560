"""The models build after a load, in a fresh process: the loader's memory and dbt's are never held at once.

A load leaves its process holding what loading needed (dlt, Arrow, DuckDB's merge, Python's heap,
which is rarely handed back): about 300 MB after 300,000 records. dbt's import, parse and runs
then needed as much again in the same process, so `load` peaked at the sum (611-666 MB at
300,000 records) although the two are never needed together. Here the build runs in a child
process, `python -m zendesk_audit.models.build_process`, which imports only the models' code and
dbt, and runs `build_models`, the very function `zendesk-audit models build` runs, on the same dlt
pipeline (name, state folder, destination, dataset). Its answer comes back as JSON on a pipe of
its own: the `BuildResult`, or the one line of the error the user can fix, worded in the child by
the same code that words it in one process (`errors.first_line`, `errors.config_problem`). So
`load` prints, returns and exits exactly as before; only the peak memory is the larger of the
two processes instead of their sum.

The parent keeps the write lock for the whole build (the child never takes it: the lock is the
load's, held through its models, as before); the child holds the DuckDB file open for the build,
as `models build` does. A bug in the child (an exception that is not the user's to fix) prints
its traceback on stderr, as it would have in one process, and the parent raises `ModelsProcessFailed`.
The child ends when its parent does (Linux: the parent-death signal), so a killed load does not
leave a build running behind it.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from zendesk_audit.errors import StepProblem, ZendeskAuditError

if TYPE_CHECKING:
    import dlt

    from zendesk_audit.models.build import BuildResult

MODULE = "zendesk_audit.models.build_process"


class ModelsProcessFailed(RuntimeError):
    """The child ended without an answer: a bug (its traceback is on stderr) or a kill."""


@dataclass(frozen=True)
class BuildRequest:
    """What the child needs to open the load's pipeline again and build its models."""

    pipeline_name: str
    pipelines_dir: str
    destination: str | None
    dataset_name: str
    duckdb_path: str
    detections_dir: str | None = None
    wait_for_lock: float = 0.0
    verbose: bool = False

    @classmethod
    def for_pipeline(cls, pipeline: dlt.Pipeline, destination: str | None, duckdb_path: str,
                     detections_dir: str | None, wait_for_lock: float) -> BuildRequest:
        return cls(pipeline.pipeline_name, pipeline.pipelines_dir, destination, pipeline.dataset_name,
                   os.path.abspath(duckdb_path), detections_dir, wait_for_lock,
                   logging.getLogger("zendesk_audit").getEffectiveLevel() <= logging.INFO)


def _child_environment() -> dict[str, str]:
    """The parent's environment, with the parent's module path: the child imports the same code as
    the parent (a checkout on PYTHONPATH, an editable install, a wheel, a path an orchestrator set)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(entry for entry in sys.path if entry)
    # The same allocator choice as `cli.main`: freed Arrow buffers go back to the system.
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    return env


def build_in_child(request: BuildRequest) -> BuildResult:
    """`build_models` in a new child process, its result as if it had run here. The child is ended
    if it still runs when this returns or raises (an interrupted load leaves no build behind).

    Raises:
        StepProblem: the user's error, as its one line.
        ModelsProcessFailed: the child ended without an answer.
    """
    process = subprocess.Popen([sys.executable, "-m", MODULE, str(os.getpid())], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=_child_environment())
    assert process.stdin is not None and process.stdout is not None
    try:
        try:
            process.stdin.write(json.dumps(request.__dict__).encode() + b"\n")
            process.stdin.close()
        except BrokenPipeError:
            pass  # the child is gone already: its exit code says so below
        answer_text = process.stdout.read()
        code = process.wait()
    finally:
        _end(process)
    try:
        answer = json.loads(answer_text) if answer_text.strip() else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ModelsProcessFailed(
            f"the models build process ended with exit code {code} and no result (see the lines above); "
            "the load's data is committed: run `zendesk-audit models build` to build the models"
        )
    if "problem" in answer:
        raise StepProblem(str(answer["problem"]))
    return result_from_dict(answer["result"])


def _end(process: subprocess.Popen[bytes]) -> None:
    """Close the child's pipes and end it if it still runs."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def result_from_dict(data: dict[str, Any]) -> BuildResult:
    """A `BuildResult` from its `as_dict()` (the properties it adds are left out)."""
    from zendesk_audit.models.build import BuildResult, ModelOutcome

    return BuildResult(
        schema=data["schema"],
        time_zone=data["time_zone"],
        seconds=data["seconds"],
        models=[ModelOutcome(**outcome) for outcome in data["models"]],
        seeds_loaded=list(data["seeds_loaded"]),
        dbt_skipped=bool(data["dbt_skipped"]),
    )


# ------------------------------------------------------------------------------------ the child
def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGTERM when the parent ends (a killed load must not leave a build behind); then check
    the parent did not end before this was set."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):  # not Linux: the parent's `close` is all there is
        return
    if os.getppid() != parent_pid:
        sys.exit(1)


class _LibraryLinesOff(logging.Filter):
    """dlt's lines below ERROR stay off the terminal, as the CLI keeps them (`cli.options.LibraryWarningsOff`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def _setup_logging(verbose: bool) -> None:
    from zendesk_audit.text_safety import terminal_text

    class Inert(logging.Formatter):
        def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
            return terminal_text(super().formatMessage(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Inert("%(levelname)s: %(message)s"))
    own = logging.getLogger("zendesk_audit")
    own.addHandler(handler)
    own.setLevel(logging.INFO if verbose else logging.WARNING)
    own.propagate = False
    if verbose:
        logging.getLogger("dlt").setLevel(logging.INFO)
    elif not os.environ.get("RUNTIME__LOG_LEVEL"):
        logging.getLogger("dlt").addFilter(_LibraryLinesOff())


def _build(request: BuildRequest) -> BuildResult:
    """`build_models` on the load's pipeline, its DuckDB file held open as `models build` holds it."""
    import dlt

    from zendesk_audit.load.dlt_settings import own_pipeline, settings, verbose_dlt
    from zendesk_audit.load.locking import duckdb_database, duckdb_session
    from zendesk_audit.load.pipeline import create_destination
    from zendesk_audit.models.build import build_models

    settings()
    own_pipeline(request.pipeline_name)
    destination = create_destination(request.destination, request.duckdb_path)
    pipeline = dlt.pipeline(pipeline_name=request.pipeline_name, destination=destination,
                            dataset_name=request.dataset_name, pipelines_dir=request.pipelines_dir)
    with duckdb_session(duckdb_database(pipeline.destination), read_only=False, wait_seconds=request.wait_for_lock):
        if request.verbose:
            with verbose_dlt():
                return build_models(pipeline, detections_dir=request.detections_dir)
        return build_models(pipeline, detections_dir=request.detections_dir)


def child_main(parent_pid: int, requests: IO[str], answers: IO[str]) -> None:
    """Read one request, build, write one answer."""
    _die_with_parent(parent_pid)
    from dlt.common.configuration.exceptions import ConfigurationException

    from zendesk_audit.errors import config_problem, first_line
    line = requests.readline()
    if not line:
        return  # the parent needs no build after all
    request = BuildRequest(**json.loads(line))
    _setup_logging(request.verbose)
    try:
        result = _build(request)
    except ZendeskAuditError as exc:
        answer: dict[str, Any] = {"problem": first_line(exc)}
    except ConfigurationException as exc:
        answer = {"problem": f"configuration: {config_problem(exc)}"}
    else:
        answer = {"result": result.as_dict()}
    answers.write(json.dumps(answer, default=str))
    answers.flush()


if __name__ == "__main__":
    # The answer goes to the pipe that was stdout; anything else printed to stdout (a library's
    # stray line) goes to stderr, where the user sees it as they would have before.
    _answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    child_main(int(sys.argv[1]), sys.stdin, _answers)
