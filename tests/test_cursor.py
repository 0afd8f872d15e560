"""The cursor never passes the settled end (now - lag): a start past it is refused, a cursor saved
past it by an older version is detected, explained, and repaired without losing or doubling records.

Real HTTP from the sandbox, real DuckDB files, dlt's own state read back after each run.
"""
from __future__ import annotations

import hashlib
import os
import shlex
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from click.testing import CliRunner
from dlt.pipeline.exceptions import PipelineStepFailed
from test_cli import _sandbox_env, run_cli

import zendesk_audit.extract.source as source_module
from conftest import api_token_credentials, duckdb_ids, load_sandbox
from zendesk_audit.cli.commands import cli
from zendesk_audit.errors import ConfigurationError, CursorAheadError, find_cause
from zendesk_audit.extract.cursor import saved_cursor
from zendesk_audit.extract.options import resolve_options, settled_end
from zendesk_audit.extract.source import audit_logs_resource
from zendesk_audit.load.accounts import pipeline_name_for
from zendesk_audit.load.pipeline import create_pipeline, current_cursor
from zendesk_audit.zendesk_api.client import ZendeskClient

UTC = timezone.utc
SECOND = timedelta(seconds=1)
FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


def _no_duplicates(ids: list[int]) -> None:
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicated, f"{len(duplicated)} duplicated ids, e.g. {duplicated[:5]}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _state_rows(path: Path, dataset: str = "zendesk_audit") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(
            f"select pipeline_name, version from {dataset}._dlt_pipeline_state order by pipeline_name, version"
        ).fetchall()


def save_cursor_like_an_older_version(pipeline: Any, cursor: datetime) -> None:
    """What a run of an older version committed: the cursor in the local state and, through a load
    package, in the destination's `_dlt_pipeline_state` (dlt's own state API, not this project's)."""
    with pipeline.managed_state(extract_state=True) as state:
        column = state["sources"]["zendesk_audit"]["resources"]["audit_logs"]["incremental"]["created_at"]
        column["last_value"] = cursor
    pipeline.normalize()
    pipeline.load()


def load_like_an_older_version(sandbox: Any, path: Path, **args: Any) -> Any:
    """A load without the checks this version added: the behaviour that poisoned states."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source_module, "check_start", lambda *a: None)
        patch.setattr(source_module, "check_saved_cursor", lambda *a: None)
        return load_sandbox(sandbox, path, **args)


def test_no_run_saves_a_cursor_past_the_end_of_the_window_it_fetched(sandbox_factory: Any, tmp_path: Path) -> None:
    """Whatever the start, end and clock, the cursor in dlt's state after a run is at most now - lag."""
    now = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    lag = 300
    settled = settled_end(lag, now)
    sandbox = sandbox_factory(records=200, seed=41, history_end=settled - timedelta(hours=1), history_days=2)
    sandbox.append(3, created_at=settled)  # on the settled end: loaded
    sandbox.append(3, created_at=settled + SECOND)  # visible, but not settled for a run at `now`
    sandbox.append(3, created_at=now + timedelta(hours=1))  # later than the run's clock
    client = ZendeskClient(sandbox.base_url, api_token_credentials(sandbox))
    database = tmp_path / "cases.duckdb"

    def run(case: str, start: datetime, end: datetime | None = None, clock: datetime = now) -> tuple[Any, Any]:
        options = resolve_options(subdomain="acme", base_url=sandbox.base_url, start=start, end=end, lag_seconds=lag)
        pipeline = create_pipeline("duckdb", case, str(database), pipelines_dir=str(tmp_path / "state" / case))
        try:
            # A standalone resource's state goes under its schema's name: the source's, as in a load.
            pipeline.run(audit_logs_resource(client, options, clock=lambda: clock), loader_file_format="parquet",
                         schema=dlt.Schema("zendesk_audit"))
        except PipelineStepFailed as exc:
            return pipeline, exc
        return pipeline, None

    def loaded_times(case: str) -> list[datetime]:
        with duckdb.connect(str(database), read_only=True) as connection:
            return [row[0] for row in connection.execute(f"select created_at from {case}.audit_logs").fetchall()]

    for number, offset in enumerate([timedelta(days=-3), timedelta(hours=-1, seconds=1), -SECOND, timedelta(0)]):
        case = f"settled_{number}"
        pipeline, failure = run(case, settled + offset)
        assert failure is None, failure
        cursor = saved_cursor(pipeline.state)
        assert cursor is not None and cursor <= settled, (case, cursor)
        assert cursor == settled  # the last record loaded (3 on the end), or the start when none was there
        assert max(loaded_times(case)) == settled

    for number, offset in enumerate([SECOND, timedelta(days=1), timedelta(days=4 * 365)]):
        case = f"unsettled_{number}"
        pipeline, failure = run(case, settled + offset)
        assert failure is not None and find_cause(failure, ConfigurationError) is not None, case
        assert saved_cursor(pipeline.state) is None, case  # dlt would have saved the start as the cursor
        assert not pipeline.has_pending_data

    # An end in the future reads up to the settled end, and a bounded run saves no cursor at all.
    pipeline, failure = run("future_end", settled - timedelta(days=3), end=now + timedelta(days=30))
    assert failure is None and saved_cursor(pipeline.state) is None
    assert max(loaded_times("future_end")) == settled

    # A clock that was wrong (a year ahead) let a run save a cursor that is now past the settled end:
    # the next run at the right time refuses before fetching, and leaves that state alone.
    pipeline, failure = run("wrong_clock", FUTURE, clock=FUTURE + timedelta(days=1))
    assert failure is None and saved_cursor(pipeline.state) == FUTURE
    version = pipeline.state["_state_version"]
    requests_before = sum(sandbox.counters()["requests"].values())
    pipeline, failure = run("wrong_clock", settled - timedelta(days=3))
    refused = find_cause(failure, CursorAheadError) if failure else None
    assert refused is not None and refused.cursor == "2030-01-01T00:00:00Z"
    assert saved_cursor(pipeline.state) == FUTURE and pipeline.state["_state_version"] == version
    assert sum(sandbox.counters()["requests"].values()) == requests_before


def test_a_start_later_than_now_minus_the_lag_is_refused_before_any_request_and_saves_nothing(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "z.duckdb"
    almost_now = (datetime.now(UTC) - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sandbox.reset_counters()
    for args in ({"start": "2030-01-01"}, {"start": almost_now}, {"start": "2020-01-01", "lag_seconds": 10 * 365 * 86400},
                 {"start": "2030-01-01", "end": "2031-01-01"}):
        with pytest.raises(ConfigurationError, match="is later than now minus the lag"):
            load_sandbox(sandbox, database, **args)
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__START", "2030-01-01")  # from config, not an argument
    with pytest.raises(ConfigurationError, match="start 2030-01-01T00:00:00Z is later than now minus the lag"):
        load_sandbox(sandbox, database)
    assert sandbox.counters()["requests"] == {}
    assert not database.exists()
    assert current_cursor(create_pipeline("duckdb", "zendesk_audit", str(database))) is None


def test_a_cursor_saved_in_the_future_by_an_older_version_is_refused_explained_and_repaired_on_a_fresh_worker(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    """The issue's story: `load --start 2030-01-01` with an older version, then loads that found nothing."""
    sandbox = sandbox_factory(records=300, seed=42)
    database = tmp_path / "zendesk.duckdb"  # the CLI's default path, in its working folder
    poisoned = load_like_an_older_version(sandbox, database, start="2030-01-01")
    assert poisoned.records_loaded == 0 and poisoned.cursor == "2030-01-01T00:00:00Z"
    before, state_rows = _sha256(database), _state_rows(database)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)

    # A fresh worker (its own empty dlt folder) restores the state from the database and refuses.
    sandbox.reset_counters()
    for args in (["load"], ["load", "--start", "2024-01-01", "--end", "2024-02-01"]):
        refused = run_cli(args, tmp_path, env)
        assert refused.returncode == 2, refused.stderr
        lines = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in refused.stderr and refused.stdout == ""
        assert lines[0].startswith("error: the saved cursor 2030-01-01T00:00:00Z is later than now minus the lag")
        assert lines[0].endswith(": zendesk-audit repair-cursor --subdomain acme")
    assert sandbox.counters()["requests"] == {}
    assert _sha256(database) == before and _state_rows(database) == state_rows

    status = run_cli(["status"], tmp_path, env)
    assert status.returncode == 2 and "cursor 2030-01-01T00:00:00Z; 0 records loaded" in status.stdout
    assert "run `zendesk-audit repair-cursor --subdomain acme`" in status.stdout

    command = lines[0].rsplit(": zendesk-audit ", 1)[1]
    repaired = run_cli(shlex.split(command), tmp_path, env)
    assert repaired.returncode == 0, repaired.stderr
    assert "acme: cursor 2007-01-01T00:00:00Z; 0 records loaded; repaired: the cursor was 2030-01-01T00:00:00Z" in repaired.stdout
    assert run_cli(["status"], tmp_path, env).returncode == 0

    loaded = run_cli(["load", "--no-models"], tmp_path, env)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("loaded 300 audit log records")
    ids = duckdb_ids(database)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()

    # The repair reached the destination: the first machine, whose local state still says 2030,
    # takes the newer state from the database and carries on.
    again = load_sandbox(sandbox, database)
    assert again.records_loaded == 0 and again.cursor == max(record["created_at"] for record in sandbox.records())


def test_a_poisoned_cursor_after_loads_is_repaired_to_the_latest_record_and_the_gap_loads_exactly_once(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    sandbox = sandbox_factory(records=1_000, seed=43)
    database = tmp_path / "z.duckdb"
    first = load_sandbox(sandbox, database)
    save_cursor_like_an_older_version(create_pipeline("duckdb", "zendesk_audit", str(database)), FUTURE)
    missing = sandbox.append(40, created_at=datetime.fromisoformat(first.cursor) + timedelta(hours=1))

    with pytest.raises(CursorAheadError) as refused:
        load_sandbox(sandbox, database)
    assert refused.value.exit_code == 2
    command = str(refused.value).rsplit(": zendesk-audit ", 1)[1]
    assert command == f"repair-cursor --subdomain acme --duckdb-path {database}"

    status = CliRunner().invoke(cli, ["status", "--json", "--subdomain", "acme", "--duckdb-path", str(database)])
    assert status.exit_code == 2 and '"cursor_ok": false' in status.output and '"records": 1000' in status.output
    repaired = CliRunner().invoke(cli, shlex.split(command), catch_exceptions=False)
    assert repaired.exit_code == 0, repaired.output
    assert current_cursor(create_pipeline("duckdb", "zendesk_audit", str(database))) == first.cursor

    loaded = load_sandbox(sandbox, database)
    last_second = sum(1 for record in sandbox.records() if record["created_at"] == first.cursor)
    assert loaded.records_loaded == len(missing) + last_second  # the cursor's second is read again
    ids = duckdb_ids(database)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids() and len(ids) == 1_040

    untouched = CliRunner().invoke(cli, shlex.split(command), catch_exceptions=False)
    assert untouched.exit_code == 0 and "repaired" not in untouched.output


def test_several_accounts_refuse_a_future_start_at_once_and_repair_only_the_poisoned_account(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    acme, beta = sandbox_factory(subdomain="acme", records=600), sandbox_factory(subdomain="beta", seed=2, records=400)
    for sandbox in (acme, beta):
        prefix = f"SOURCES__ZENDESK_AUDIT__ACCOUNTS__{sandbox.config.subdomain.upper()}__"
        monkeypatch.setenv(prefix + "BASE_URL", sandbox.base_url)
        monkeypatch.setenv(prefix + "CREDENTIALS__EMAIL", sandbox.config.email)
        monkeypatch.setenv(prefix + "CREDENTIALS__API_TOKEN", sandbox.config.api_token)
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__SUBDOMAINS", '["acme", "beta"]')
    database = tmp_path / "z.duckdb"
    args = ["load", "--duckdb-path", str(database), "--no-models"]

    for start in (["--start", "2030-01-01"], []):
        if not start:
            monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__START", "2030-01-01")
        refused = CliRunner().invoke(cli, [*args, *start])
        assert refused.exit_code == 2 and "is later than now minus the lag" in refused.output
        assert len(refused.output.strip().splitlines()) == 1 and not database.exists()
    monkeypatch.delenv("SOURCES__ZENDESK_AUDIT__START")
    assert acme.counters()["requests"] == {} and beta.counters()["requests"] == {}

    assert CliRunner().invoke(cli, args, catch_exceptions=False).exit_code == 0
    beta_pipeline = create_pipeline("duckdb", "zendesk_audit", str(database), pipeline_name=pipeline_name_for("beta"))
    beta_cursor = current_cursor(beta_pipeline)
    save_cursor_like_an_older_version(beta_pipeline, FUTURE)
    acme_pipeline = create_pipeline("duckdb", "zendesk_audit", str(database), pipeline_name=pipeline_name_for("acme"))
    acme_cursor = current_cursor(acme_pipeline)
    acme_new = acme.append(5, created_at=datetime.fromisoformat(acme_cursor) + timedelta(minutes=1))
    beta.append(7, created_at=datetime.fromisoformat(beta_cursor) + timedelta(minutes=1))

    poisoned = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert poisoned.exit_code == 1
    errors = [line for line in poisoned.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: beta: failed: the saved cursor 2030-01-01T00:00:00Z")
    command = errors[0].rsplit(": zendesk-audit ", 1)[1]
    assert command == f"repair-cursor --subdomain acme --subdomain beta --duckdb-path {database}"
    assert "2 accounts: 1 loaded (acme), 1 failed (beta)" in poisoned.output

    status = CliRunner().invoke(cli, ["status", "--duckdb-path", str(database)])
    assert status.exit_code == 2
    assert [line.split(";")[0] for line in status.output.splitlines()] == [
        f"acme: cursor {acme_new[0]['created_at']}", "beta: cursor 2030-01-01T00:00:00Z"  # acme loaded its new records
    ]
    repaired = CliRunner().invoke(cli, shlex.split(command), catch_exceptions=False)
    assert repaired.exit_code == 0
    assert ["repaired" in line for line in repaired.output.splitlines()] == [False, True]
    assert current_cursor(beta_pipeline) == beta_cursor

    loaded = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert loaded.exit_code == 0, loaded.output
    with duckdb.connect(str(database), read_only=True) as connection:
        counts = dict(connection.execute(
            "select subdomain, count(distinct id) from zendesk_audit.audit_logs group by 1"
        ).fetchall())
        assert connection.execute("select count(*) - count(distinct (subdomain, id)) from zendesk_audit.audit_logs"
                                  ).fetchone() == (0,)
    assert counts == {"acme": 605, "beta": 407}


def test_status_on_a_database_that_does_not_exist_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["status", "--subdomain", "acme", "--duckdb-path", "none.duckdb"])
    assert result.exit_code == 0 and result.output.startswith("acme: cursor not set (no load yet); 0 records loaded")
    assert list(tmp_path.iterdir()) == []
