"""dlt's own CLI on our pipelines: `dlt pipeline <name> info|trace|drop|sync` find each database's
state, act on that database only, and lose nothing; state of the older layout is adopted."""
from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from cli_forkserver import run_module
from test_cli import _sandbox_env, run_cli

from conftest import api_token_credentials, duckdb_ids, load_sandbox, postgres_rows
from zendesk_audit.extract.source import zendesk_audit_source
from zendesk_audit.load.api_load import LoadResult, run_load
from zendesk_audit.load.pipeline import create_destination, destination_fingerprint
from zendesk_audit.zendesk_api.stats import RequestStats

DUCKDB_NAME_PREFIX = "zendesk_audit_duckdb_zendesk_audit_"


def run_dlt(args: list[str], cwd: Path, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """dlt's CLI as a user runs it: its own process (forked, see `cli_forkserver`), `DLT_DATA_DIR` as the
    load had it, no prompt."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    full_env.update(env or {}, DLT_DATA_DIR=str(data_dir), RUNTIME__DLTHUB_TELEMETRY="false")
    cwd.mkdir(parents=True, exist_ok=True)
    return run_module(args, cwd, full_env, timeout=120, module="dlt")


def load_json(cwd: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    """`zendesk-audit load --json --no-models ...` in a child process, its summary."""
    result = run_cli(["load", "--json", "--no-models", *args], cwd, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def state_files(data_dir: Path) -> dict[str, bytes]:
    return {str(path.relative_to(data_dir)): path.read_bytes() for path in data_dir.rglob("state.json")}


def dlt_cursor(cursor: str) -> str:
    """The summary's cursor as dlt's state file writes it."""
    return f'"last_value": "{cursor.replace("Z", "+00:00")}"'


def load_with_the_older_layout(sandbox: Any, pipelines_root: Path, destination: str = "duckdb",
                               dataset: str = "zendesk_audit", duckdb_path: Path | None = None) -> LoadResult:
    """A load as versions before this one ran it: the pipeline `zendesk_audit` kept in
    `<pipelines folder>/zendesk_audit/<12 hex key>/`, saved in the destination under that name."""
    target = create_destination(destination, str(duckdb_path or "unused.duckdb"))
    # What the older create_pipeline set before opening the pipeline.
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "false")
    folder = pipelines_root / "zendesk_audit" / destination_fingerprint(target, dataset)
    pipeline = dlt.pipeline(pipeline_name="zendesk_audit", destination=target, dataset_name=dataset, pipelines_dir=str(folder))
    stats = RequestStats()
    args = {"subdomain": sandbox.config.subdomain, "base_url": sandbox.base_url,
            "credentials": api_token_credentials(sandbox), "stats": stats}
    return run_load(pipeline, lambda: zendesk_audit_source(**args), stats)


def append_settled(sandbox: Any, count: int) -> None:
    """New records an hour old: after the sandbox's history, before now minus the lag."""
    sandbox.append(count, created_at=datetime.now(timezone.utc) - timedelta(hours=1))


def _no_duplicates_and_all(ids: list[int], sandbox: Any) -> None:
    assert len(ids) == len(set(ids)) and set(ids) == sandbox.ids()


def test_dlt_pipeline_info_shows_each_databases_own_state_and_changes_nothing(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=300, seed=61)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    data_dir = tmp_path / "dlt-data"  # what run_cli gives the load
    one = load_json(tmp_path, env, "--duckdb-path", "one.duckdb")
    two = load_json(tmp_path, env, "--duckdb-path", "two.duckdb")
    assert one["records_loaded"] == two["records_loaded"] == 300  # each database from its own cursor
    names = {one["pipeline_name"], two["pipeline_name"]}
    assert len(names) == 2 and all(name.startswith(DUCKDB_NAME_PREFIX) for name in names)
    before = state_files(data_dir)

    listed = run_dlt(["pipeline", "--list-pipelines"], tmp_path, data_dir)
    assert listed.returncode == 0 and all(name in listed.stdout for name in names), listed.stdout
    for summary in (one, two):
        info = run_dlt(["pipeline", summary["pipeline_name"], "info", "-v"], tmp_path / "elsewhere", data_dir)
        assert info.returncode == 0, info.stderr
        assert f"Found pipeline {summary['pipeline_name']}" in info.stdout
        assert "dataset_name: zendesk_audit" in info.stdout and dlt_cursor(summary["cursor"]) in info.stdout
        trace = run_dlt(["pipeline", summary["pipeline_name"], "trace"], tmp_path, data_dir)
        assert trace.returncode == 0 and "COMPLETED in" in trace.stdout, trace.stderr
    # The name older versions used finds nothing, and deletes nothing on its way out.
    old_name = run_dlt(["pipeline", "zendesk_audit", "info"], tmp_path, data_dir)
    assert "could not be restored" in old_name.stdout + old_name.stderr
    assert state_files(data_dir) == before

    status = run_cli(["status", "--duckdb-path", "one.duckdb"], tmp_path, env)
    assert status.returncode == 0 and status.stdout.rstrip().endswith(f"(dlt pipeline {one['pipeline_name']})")
    text = run_cli(["load", "--no-models", "--duckdb-path", "two.duckdb"], tmp_path, env)
    assert text.returncode == 0 and text.stdout.splitlines()[0].endswith(f"; dlt pipeline {two['pipeline_name']}")

    append_settled(sandbox, 5)
    for database in ("one.duckdb", "two.duckdb"):
        assert load_json(tmp_path, env, "--duckdb-path", database)["records_loaded"] == 5
        _no_duplicates_and_all(duckdb_ids(tmp_path / database), sandbox)


def test_dlt_pipeline_drop_acts_on_that_database_only(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=300, seed=62)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    data_dir = tmp_path / "dlt-data"
    one = load_json(tmp_path, env, "--duckdb-path", "one.duckdb")
    two = load_json(tmp_path, env, "--duckdb-path", "two.duckdb")
    two_state = (data_dir / "pipelines" / two["pipeline_name"] / "state.json").read_bytes()

    # From another folder and without the DuckDB path in the environment: dlt finds the file in the state.
    elsewhere = tmp_path / "elsewhere"
    dropped = run_dlt(["-y", "pipeline", one["pipeline_name"], "drop", "audit_logs"], elsewhere, data_dir)
    assert dropped.returncode == 0, dropped.stderr
    assert list(elsewhere.iterdir()) == []  # no stray `<name>.duckdb`
    with duckdb.connect(str(tmp_path / "one.duckdb"), read_only=True) as connection:
        tables = {row[0] for row in connection.execute(
            "select table_name from information_schema.tables where table_schema = 'zendesk_audit'").fetchall()}
    assert "audit_logs" not in tables and "accounts" in tables
    assert (data_dir / "pipelines" / two["pipeline_name"] / "state.json").read_bytes() == two_state
    assert sorted(duckdb_ids(tmp_path / "two.duckdb")) == sorted(sandbox.ids())

    # The other database carries on from its cursor; the dropped one reloads what the drop removed, once.
    assert load_json(tmp_path, env, "--duckdb-path", "two.duckdb")["records_loaded"] == 0
    assert load_json(tmp_path, env, "--duckdb-path", "one.duckdb")["records_loaded"] == 300
    _no_duplicates_and_all(duckdb_ids(tmp_path / "one.duckdb"), sandbox)


def test_dlt_pipeline_sync_restores_the_cursor_from_its_own_database(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=300, seed=63)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    data_dir = tmp_path / "dlt-data"
    one = load_json(tmp_path, env, "--duckdb-path", "one.duckdb")
    load_json(tmp_path, env, "--duckdb-path", "two.duckdb")

    synced = run_dlt(["-y", "pipeline", one["pipeline_name"], "sync"], tmp_path / "elsewhere", data_dir)
    assert synced.returncode == 0, synced.stderr
    info = run_dlt(["pipeline", one["pipeline_name"], "info", "-v"], tmp_path, data_dir)
    assert dlt_cursor(one["cursor"]) in info.stdout, info.stdout
    append_settled(sandbox, 7)
    assert load_json(tmp_path, env, "--duckdb-path", "one.duckdb")["records_loaded"] == 7
    _no_duplicates_and_all(duckdb_ids(tmp_path / "one.duckdb"), sandbox)


@pytest.mark.postgres
def test_duckdb_and_postgres_keep_their_own_cursor_and_dlt_finds_both(
    sandbox_factory: Any, duckdb_path: Path, postgres: str, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(records=400, seed=64)
    on_duckdb = load_sandbox(sandbox, duckdb_path)
    on_postgres = load_sandbox(sandbox, destination="postgres", dataset=postgres)
    assert on_duckdb.records_loaded == on_postgres.records_loaded == 400
    assert on_postgres.pipeline_name.startswith(f"zendesk_audit_postgres_{postgres}_")
    assert on_duckdb.pipeline_name != on_postgres.pipeline_name

    data_dir = Path(os.environ["DLT_DATA_DIR"])  # the in-process loads' folder
    info = run_dlt(["pipeline", on_postgres.pipeline_name, "info", "-v"], tmp_path, data_dir)
    assert info.returncode == 0 and f"dataset_name: {postgres}" in info.stdout, info.stderr
    assert dlt_cursor(on_postgres.cursor or "") in info.stdout

    append_settled(sandbox, 9)
    assert load_sandbox(sandbox, destination="postgres", dataset=postgres).records_loaded == 9
    assert load_sandbox(sandbox, duckdb_path).records_loaded == 9
    ids = [row[0] for row in postgres_rows(postgres, "select id from {dataset}.audit_logs")]
    _no_duplicates_and_all(ids, sandbox)


def test_an_upgrade_adopts_every_older_state_folder_without_losing_a_cursor(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=300, seed=65)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    data_dir = tmp_path / "dlt-data"
    for database in ("one.duckdb", "two.duckdb"):
        assert load_with_the_older_layout(sandbox, data_dir / "pipelines", duckdb_path=tmp_path / database).records_loaded == 300
    assert len(list((data_dir / "pipelines" / "zendesk_audit").iterdir())) == 2
    append_settled(sandbox, 5)

    one = load_json(tmp_path, env, "--duckdb-path", "one.duckdb")
    assert one["records_loaded"] == 5
    # Both old folders moved at once, under dlt's layout; the old shared folder is gone.
    assert not (data_dir / "pipelines" / "zendesk_audit").exists()
    adopted = sorted(path.name for path in (data_dir / "pipelines").iterdir())
    assert len(adopted) == 2 and one["pipeline_name"] in adopted and all(n.startswith(DUCKDB_NAME_PREFIX) for n in adopted)
    other = next(name for name in adopted if name != one["pipeline_name"])
    info = run_dlt(["pipeline", other, "info"], tmp_path, data_dir)
    assert info.returncode == 0 and f"pipeline_name: {other}" in info.stdout, info.stderr

    two = load_json(tmp_path, env, "--duckdb-path", "two.duckdb")
    assert two["records_loaded"] == 5 and two["pipeline_name"] == other
    for database in ("one.duckdb", "two.duckdb"):
        _no_duplicates_and_all(duckdb_ids(tmp_path / database), sandbox)


def test_a_moved_database_keeps_its_cursor_under_its_new_name(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=300, seed=67)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    before = load_json(tmp_path, env, "--duckdb-path", "one.duckdb")
    (tmp_path / "one.duckdb").rename(tmp_path / "moved.duckdb")
    append_settled(sandbox, 5)
    after = load_json(tmp_path, env, "--duckdb-path", "moved.duckdb")
    assert after["records_loaded"] == 5 and after["pipeline_name"] != before["pipeline_name"]
    _no_duplicates_and_all(duckdb_ids(tmp_path / "moved.duckdb"), sandbox)


@pytest.mark.parametrize("destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_fresh_worker_adopts_the_state_an_older_version_saved_in_the_destination(
    sandbox_factory: Any, tmp_path: Path, destination: str, request: pytest.FixtureRequest
) -> None:
    sandbox = sandbox_factory(records=300, seed=66)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    if destination == "postgres":
        dataset = request.getfixturevalue("postgres")
        args = ["--destination", "postgres", "--dataset", dataset]
        env["DESTINATION__POSTGRES__CREDENTIALS"] = os.environ["DESTINATION__POSTGRES__CREDENTIALS"]
    else:
        dataset, args = "zendesk_audit", ["--duckdb-path", "zendesk.duckdb"]
    # The older version ran on a worker whose local folder is gone: only the destination kept its state.
    old = load_with_the_older_layout(sandbox, tmp_path / "gone-worker", destination, dataset, tmp_path / "zendesk.duckdb")
    assert old.records_loaded == 300
    append_settled(sandbox, 5)

    first = load_json(tmp_path, env, *args)
    assert first["records_loaded"] == 5
    # The next fresh worker finds the state under the new name.
    for path in sorted((tmp_path / "dlt-data").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    append_settled(sandbox, 3)
    assert load_json(tmp_path, env, *args)["records_loaded"] == 3

    query = "select id from {dataset}.audit_logs"
    names_query = "select distinct pipeline_name from {dataset}._dlt_pipeline_state"
    if destination == "postgres":
        ids = [row[0] for row in postgres_rows(dataset, query)]
        names = {row[0] for row in postgres_rows(dataset, names_query)}
    else:
        with duckdb.connect(str(tmp_path / "zendesk.duckdb"), read_only=True) as connection:
            ids = [row[0] for row in connection.execute(query.format(dataset=dataset)).fetchall()]
            names = {row[0] for row in connection.execute(names_query.format(dataset=dataset)).fetchall()}
    _no_duplicates_and_all(ids, sandbox)
    assert names == {"zendesk_audit", first["pipeline_name"]}
