"""Runs that race lose nothing and duplicate nothing (issue 13).

Every run here is a real `zendesk-audit` child process against the sandbox; the race is made to
happen by holding the first run inside its load step (tests/paused_run.py), not left to chance.
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import api_token_credentials, duckdb_ids, postgres_rows
from zendesk_audit.errors import LoadInProgress
from zendesk_audit.load.api_load import load_account
from zendesk_audit.load.pipeline import create_pipeline, write_lock
from zendesk_sandbox import Sandbox

PAUSED_RUN = str(Path(__file__).with_name("paused_run.py"))


class Run:
    """One `zendesk-audit` child process with its own dlt state folder; stderr read as it comes."""

    def __init__(self, sandbox: Any, workdir: Path, state: str, *args: str, pause_at: str | None = None) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
        env.update(
            DLT_DATA_DIR=str(workdir / state),
            SOURCES__ZENDESK_AUDIT__BASE_URL=sandbox.base_url,
            SOURCES__ZENDESK_AUDIT__SUBDOMAIN=sandbox.config.subdomain,
            SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID=sandbox.config.client_id,
            SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET=sandbox.config.client_secret,
        )
        self.marker, self.go = workdir / f"{state}.paused", workdir / f"{state}.go"
        if pause_at:
            env.update(PAUSE_AT=pause_at, PAUSE_MARKER=str(self.marker), PAUSE_GO=str(self.go))
        command = [PAUSED_RUN] if pause_at else ["-m", "zendesk_audit"]
        self.process = subprocess.Popen(
            [sys.executable, *command, *args], cwd=workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, condition: Any, timeout: float = 120) -> bool:
        """Until `condition()` holds or the run ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None and not condition():
            time.sleep(0.05)
        return bool(condition())

    def release(self) -> None:
        self.go.touch()

    def finish(self, timeout: float = 240) -> tuple[int, str, str]:
        self.process.wait(timeout=timeout)
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()
        self._reader.join(timeout=5)
        return self.process.returncode, stdout, "\n".join(self.lines)


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where both runs write: one DuckDB file (the second run reaches it through a symlinked folder),
    or one PostgreSQL dataset."""
    if request.param == "postgres":
        dataset = request.getfixturevalue("postgres")
        args = ("--destination", "postgres", "--dataset", dataset)
        return {"first": args, "second": args, "api_ids": lambda: [row[0] for row in postgres_rows(
            dataset, "select id from {dataset}.audit_logs where _source = 'api'")],
            "csv_rows": lambda: postgres_rows(dataset, "select count(*) from {dataset}.audit_logs where _source = 'csv'")[0][0]}
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    database = real / "zendesk.duckdb"

    def api_ids() -> list[int]:
        import duckdb

        with duckdb.connect(str(database), read_only=True) as connection:
            return [row[0] for row in connection.execute(
                "select id from zendesk_audit.audit_logs where _source = 'api'").fetchall()]

    def csv_rows() -> int:
        import duckdb

        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute("select count(*) from zendesk_audit.audit_logs where _source = 'csv'").fetchone()[0]

    return {"first": ("--duckdb-path", str(database)), "second": ("--duckdb-path", str(tmp_path / "alias" / "zendesk.duckdb")),
            "api_ids": api_ids, "csv_rows": csv_rows}


def test_two_first_loads_from_two_state_folders_load_each_record_once(
    sandbox_factory: Any, tmp_path: Path, target: dict[str, Any]
) -> None:
    """Two workers (two DLT_DATA_DIR; on DuckDB the second through a symlinked folder): the lock
    follows the database, so the second fails in one line instead of loading every record again."""
    sandbox = sandbox_factory(records=3_000, seed=7)
    first = Run(sandbox, tmp_path, "worker-a", "load", "--no-models", *target["first"], pause_at="init")
    assert first.wait_for(first.marker.exists), first.finish()
    second_code, _, second_err = Run(sandbox, tmp_path, "worker-b", "load", "--no-models", *target["second"]).finish()
    first.release()
    first_code, _, first_err = first.finish()

    ids = target["api_ids"]()
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids)):,} records twice (second run: exit {second_code})"
    assert set(ids) == sandbox.ids()
    assert first_code == 0, first_err
    assert second_code == 1 and len(errors(second_err)) == 1, second_err
    assert "another load into this database is running (zendesk-audit load, pid" in second_err
    assert "Traceback" not in second_err


def test_a_second_load_with_wait_for_lock_waits_for_the_first_and_adds_nothing(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(records=3_000, seed=8)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    first = Run(sandbox, tmp_path, "worker-a", "load", "--no-models", "--duckdb-path", str(real / "zendesk.duckdb"),
                pause_at="init")
    assert first.wait_for(first.marker.exists), first.finish()
    second = Run(sandbox, tmp_path, "worker-b", "load", "--no-models", "--wait-for-lock", "120",
                 "--duckdb-path", str(tmp_path / "alias" / "zendesk.duckdb"))
    waited = second.wait_for(lambda: any("waiting up to 120 s" in line for line in second.lines), timeout=60)
    first.release()
    first_code, _, first_err = first.finish()
    second_code, second_out, second_err = second.finish()

    ids = duckdb_ids(real / "zendesk.duckdb")
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids)):,} records twice"
    assert set(ids) == sandbox.ids()
    assert waited, second_err
    assert "WARNING: waiting up to 120 s: another load into this database is running (zendesk-audit load, pid" in second_err
    assert (first_code, second_code) == (0, 0), (first_err, second_err)
    assert "loaded 0 audit log records" in second_out  # the second restored the first's cursor from the database


def test_an_import_during_a_load_waits_and_the_load_loses_nothing(
    sandbox_factory: Any, tmp_path: Path, target: dict[str, Any]
) -> None:
    """`import-csv` shares the dataset's staging table with `load`: run inside the load's merge,
    it emptied staging and the load committed its cursor without its records. It takes the same lock."""
    sandbox = sandbox_factory(records=3_000, seed=9)
    export = tmp_path / "export.csv"
    with open(export, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["Time", "Actor", "IP address", "Item", "Activity type", "Activity"],
                                      ["2020-01-01 00:00:00", "Ann", "", "Trigger: x", "Updated", ""]])
    first = Run(sandbox, tmp_path, "worker-a", "load", "--no-models", *target["first"], pause_at="merge")
    assert first.wait_for(first.marker.exists), first.finish()
    second = Run(sandbox, tmp_path, "worker-b", "import-csv", str(export), "--subdomain", sandbox.config.subdomain,
                 "--no-models", "--wait-for-lock", "120", *target["second"])
    waited = second.wait_for(lambda: any("waiting up to 120 s" in line for line in second.lines), timeout=60)
    first.release()
    first_code, _, first_err = first.finish()
    second_code, _, second_err = second.finish()

    ids = target["api_ids"]()
    assert set(ids) == sandbox.ids(), f"{len(sandbox.ids() - set(ids)):,} records lost, cursor moved past them"
    assert len(ids) == len(set(ids))
    assert target["csv_rows"]() == 1
    assert waited and "another load into this database is running (zendesk-audit load, pid" in second_err, second_err
    assert (first_code, second_code) == (0, 0), (first_err, second_err)


def test_the_write_lock_is_reentrant_in_one_thread_but_two_threads_meet_it(tmp_path: Path) -> None:
    """A load holds the lock through its models build and takes it again inside; an orchestrator
    running two loads in two threads of one process must still have them meet."""
    pipeline = create_pipeline("duckdb", duckdb_path=str(tmp_path / "zendesk.duckdb"))
    outcome: list[BaseException | None] = []

    def other_thread() -> None:
        try:
            with write_lock(pipeline, keep_file_open=False):
                outcome.append(None)
        except LoadInProgress as exc:
            outcome.append(exc)

    with write_lock(pipeline, keep_file_open=False):
        with write_lock(pipeline):  # again, in this thread: no wait, no error
            pass
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=60)
    assert isinstance(outcome[0], LoadInProgress), outcome
    assert f", pid {os.getpid()}, started" in str(outcome[0])
    with write_lock(pipeline, keep_file_open=False):  # released
        pass


# ----------------------------------------------------------------------------- readers and DuckDB's file lock
HOLD = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'read'); "
    "print('open', flush=True); sys.stdin.read()"
)


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[Sandbox, Path]]:
    """A sandbox and a DuckDB file loaded from it with the models built; tests copy the file."""
    folder = Path(os.environ["DLT_DATA_DIR"]) / "races-loaded"
    folder.mkdir(parents=True, exist_ok=True)
    with Sandbox(records=400, seed=11) as sandbox:
        args = {"subdomain": sandbox.config.subdomain, "base_url": sandbox.base_url,
                "credentials": api_token_credentials(sandbox)}
        load_account(args, duckdb_path=str(folder / "zendesk.duckdb"), build_models=True)
        yield sandbox, folder / "zendesk.duckdb"


def hold(path: Path, mode: str) -> subprocess.Popen[str]:
    """Another process with the DuckDB file open (`write` or `read`) until its stdin closes."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    return holder


def waits_then_runs(holder: subprocess.Popen[str], run: Run) -> tuple[int, str, str]:
    """Let the holder go once `run` says it waits (or ends), then finish the run."""
    run.wait_for(lambda: any("waiting up to" in line for line in run.lines), timeout=60)
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=30)
    return run.finish()


READERS = {
    "report": ["report", "--out", "report.html"],
    "alerts": ["alerts"],
    "evidence": ["evidence", "--from", "2000-01-01", "--to", "2100-01-01", "--out", "evidence"],
    "models status": ["models", "status"],
}


@pytest.fixture
def database(loaded: tuple[Sandbox, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "zendesk.duckdb"
    shutil.copy(loaded[1], copy)
    return copy


@pytest.mark.parametrize("command", list(READERS))
def test_a_reader_meeting_a_writer_fails_in_one_line_that_names_it(
    loaded: tuple[Sandbox, Path], database: Path, tmp_path: Path, command: str
) -> None:
    holder = hold(database, "write")
    try:
        code, _, stderr = Run(loaded[0], tmp_path, "state", *READERS[command], "--duckdb-path", str(database)).finish()
    finally:
        holder.kill()
    assert "Traceback" not in stderr and "credentials" not in stderr, stderr
    assert code == 1 and len(errors(stderr)) == 1, stderr
    assert "error: zendesk.duckdb is being written by another process (python" in stderr
    assert f"pid {holder.pid}): run this again when that run ends, or pass --wait-for-lock SECONDS" in stderr


def test_a_reader_meeting_a_load_names_the_load(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=1_000, seed=12)
    database = tmp_path / "zendesk.duckdb"
    load = Run(sandbox, tmp_path, "worker", "load", "--no-models", "--duckdb-path", str(database), pause_at="init")
    assert load.wait_for(load.marker.exists), load.finish()
    code, _, stderr = Run(sandbox, tmp_path, "reader", "models", "status", "--duckdb-path", str(database)).finish()
    load.release()
    assert load.finish()[0] == 0
    assert code == 1 and len(errors(stderr)) == 1, stderr
    holder = f"(zendesk-audit load, pid {load.process.pid}, started"
    assert f"error: zendesk.duckdb is being written by another process {holder}" in stderr


def test_a_reader_waits_for_the_writer_to_finish_then_reads(loaded: tuple[Sandbox, Path], database: Path, tmp_path: Path) -> None:
    holder = hold(database, "write")
    code, stdout, stderr = waits_then_runs(holder, Run(loaded[0], tmp_path, "state", *READERS["report"], "--wait-for-lock",
                                                       "120", "--duckdb-path", str(database)))
    assert code == 0, stderr
    assert "WARNING: waiting up to 120 s: zendesk.duckdb is being written by another process" in stderr
    assert (tmp_path / "report.html").exists() and "report" in stdout


@pytest.mark.parametrize("command", ["report", "evidence", "models status"])
def test_readers_read_while_another_process_reads(
    loaded: tuple[Sandbox, Path], database: Path, tmp_path: Path, command: str
) -> None:
    """Opened read-only, a report runs beside a BI tool or the DuckDB CLI that has the file open."""
    holder = hold(database, "read")
    try:
        code, _, stderr = Run(loaded[0], tmp_path, "state", *READERS[command], "--duckdb-path", str(database)).finish()
    finally:
        holder.kill()
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_a_load_meeting_a_reader_fails_in_one_line_that_names_it(
    loaded: tuple[Sandbox, Path], database: Path, tmp_path: Path
) -> None:
    holder = hold(database, "read")
    try:
        code, _, stderr = Run(loaded[0], tmp_path, "state", "load", "--wait-for-lock", "1",
                              "--duckdb-path", str(database)).finish()
    finally:
        holder.kill()
    assert code == 1 and len(errors(stderr)) == 1, stderr
    assert "error: zendesk.duckdb is open for reading in another process (python" in stderr
    assert f"pid {holder.pid}: a report, the DuckDB CLI or a BI tool): close it" in stderr
    assert "credentials" not in stderr and "Traceback" not in stderr


def test_a_load_meeting_a_reader_waits_for_it_then_loads(loaded: tuple[Sandbox, Path], database: Path, tmp_path: Path) -> None:
    holder = hold(database, "read")
    code, stdout, stderr = waits_then_runs(holder, Run(loaded[0], tmp_path, "state", "load", "--wait-for-lock", "120",
                                                       "--duckdb-path", str(database)))
    assert code == 0, stderr
    assert "WARNING: waiting up to 120 s: zendesk.duckdb is open for reading in another process" in stderr
    assert "loaded 0 audit log records" in stdout
    assert sorted(duckdb_ids(database)) == sorted(loaded[0].ids())
