"""DuckLake (`--destination ducklake`): extensions from their packages with the network unreachable,
the models' known answers on the lake (SQLite and PostgreSQL catalogs, a local folder and S3 on
loopback), and the commands that read the marts there.

S3 is moto's server mode on a loopback port (an S3-compatible stand-in: no cloud is reached);
everything else is real: the sandbox over HTTP, DuckDB with the lake attached, the machine's PostgreSQL.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
import test_sql_models
from click.testing import CliRunner
from test_sql_models import _postgres_reachable, actual_answers, assert_same_answers, expected_answers, query_on

from conftest import POSTGRES_URL, api_token_credentials, free_port, load_sandbox
from zendesk_audit.cli import cli as main
from zendesk_audit.errors import ConfigurationError
from zendesk_audit.load.duckdb_extensions import extension_path, lake_extensions, load_extensions
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models, model_names

LAKE_ENV = "DESTINATION__DUCKLAKE__CREDENTIALS__"
# A lake's load or models build takes several times the DuckDB file's (each connection loads the
# extensions and attaches the catalog; every commit writes the catalog): the module's fixtures and
# scenario tests take tens of seconds on a quiet machine and minutes on a busy one.
pytestmark = pytest.mark.timeout(900)
# The known data and seeds of the DuckDB and PostgreSQL known-answer tests, as this module's fixtures.
known_data = test_sql_models.known_data
seeds_dir = test_sql_models.seeds_dir


def drop_postgres_schema(schema: str) -> None:
    import psycopg2

    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(f'drop schema if exists "{schema}" cascade')


# ----------------------------------------------------------------------------- S3 on loopback
@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on a loopback port, in a process of its own; its endpoint URL."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra: pip install -e '.[test]'")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(endpoint, timeout=5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def lake_settings(kind: str, folder: Path, s3_endpoint: str | None = None) -> tuple[dict[str, str], str | None]:
    """dlt's configuration (environment variables) of a lake: `<catalog>-<storage>`, e.g. `sqlite-local`;
    and the PostgreSQL schema of its catalog (to drop afterwards), if any."""
    catalog, storage = kind.split("-")
    env: dict[str, str] = {}
    schema = None
    if catalog == "sqlite":
        env[LAKE_ENV + "CATALOG"] = f"sqlite:///{folder / 'lake.sqlite'}"
    else:
        schema = f"i29dl_{uuid.uuid4().hex[:8]}"
        env[LAKE_ENV + "CATALOG"] = POSTGRES_URL
        env[LAKE_ENV + "METADATA_SCHEMA"] = schema
    if storage == "local":
        env[LAKE_ENV + "STORAGE__BUCKET_URL"] = str(folder / "lake_files")
    else:
        assert s3_endpoint is not None
        bucket = f"i29dl-{uuid.uuid4().hex[:8]}"
        requests.put(f"{s3_endpoint}/{bucket}", timeout=10).raise_for_status()
        env.update({
            LAKE_ENV + "STORAGE__BUCKET_URL": f"s3://{bucket}/lake",
            LAKE_ENV + "STORAGE__CREDENTIALS__AWS_ACCESS_KEY_ID": "testing",
            LAKE_ENV + "STORAGE__CREDENTIALS__AWS_SECRET_ACCESS_KEY": "testing",
            LAKE_ENV + "STORAGE__CREDENTIALS__ENDPOINT_URL": s3_endpoint,
            LAKE_ENV + "STORAGE__CREDENTIALS__REGION_NAME": "us-east-1",
        })
    return env, schema


# ----------------------------------------------------------------------------- offline
def test_a_lake_attaches_from_the_packages_with_the_network_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension repository is a closed loopback port, the proxies dead, the extension folder
    empty: DuckDB alone cannot attach a lake there, the package's files can."""
    closed = free_port()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed}")
    config = {"custom_extension_repository": f"http://127.0.0.1:{closed}",
              "extension_directory": str(tmp_path / "no-extensions-here")}
    attach = f"attach 'ducklake:sqlite:{tmp_path / 'lake.sqlite'}' as lake (data_path '{tmp_path / 'files'}/')"
    with duckdb.connect(config=config) as connection, pytest.raises(duckdb.Error):
        connection.execute(attach)  # the control: nothing to download from, nothing installed
    with duckdb.connect(config=config) as connection:
        load_extensions(connection, lake_extensions("sqlite", None))
        connection.execute(attach)
        connection.execute("create table lake.answers as select 42 as answer")
        assert connection.execute("select answer from lake.answers").fetchall() == [(42,)]
        assert connection.execute("select current_setting('autoinstall_known_extensions')").fetchone() == (False,)


def test_a_load_into_a_lake_downloads_nothing(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's own connections to the lake, with DuckDB's repository a closed port and an empty extension folder."""
    closed = free_port()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LAKE_ENV + "GLOBAL_CONFIG", (
        f'{{"custom_extension_repository": "http://127.0.0.1:{closed}", '
        f'"extension_directory": "{tmp_path / "no-extensions-here"}"}}'
    ))
    result = load_sandbox(sandbox, destination="ducklake", dataset="zendesk_audit")
    assert result.records_loaded == len(sandbox.records())
    with create_pipeline("ducklake", "zendesk_audit").sql_client() as client:
        assert client.execute_sql("select count(distinct id) from audit_logs") == [(len(sandbox.records()),)]
        assert not list((tmp_path / "no-extensions-here").glob("**/*.duckdb_extension"))
    assert (tmp_path / "ducklake.sqlite").exists(), "the default catalog is a SQLite file in the working folder"


def test_a_missing_extension_package_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "duckdb_extension_ducklake" else real(name, *args))
    with pytest.raises(ConfigurationError, match=r"pip install 'zendesk-audit\[lake\]'"):
        extension_path("ducklake")
    result = CliRunner().invoke(main, ["models", "status", "--destination", "ducklake"])
    assert result.exit_code == 2
    assert "zendesk-audit[lake]" in result.output and "Traceback" not in result.output


# ----------------------------------------------------------------------------- exactly once
def lake_ids() -> list[tuple[str, int]]:
    with create_pipeline("ducklake", "zendesk_audit").sql_client() as client:
        return [tuple(row) for row in client.execute_sql("select subdomain, id from audit_logs")]


def test_a_failed_run_a_rerun_and_a_rescan_load_each_record_once_into_a_lake(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """test_incremental's guarantees on a lake: a run that fails midway commits nothing of its
    chunk, the rerun completes, an overlapping re-scan adds nothing."""
    from zendesk_audit.errors import ApiError
    from zendesk_audit.zendesk_api.client import ZendeskClient
    from zendesk_audit.zendesk_api.stats import RequestStats

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ZendeskClient, "_backoff", lambda self, attempt: 0.01)
    sandbox = sandbox_factory(records=3_000, seed=8)
    records = sandbox.records()
    load_sandbox(sandbox, destination="ducklake", end=records[1_000]["created_at"], start="2000-01-01")
    before = lake_ids()

    def break_after_ten_pages(stats: RequestStats) -> None:
        if stats.pages == 10:
            sandbox.set_faults(fault_rate=1.0, fault_kinds=("500",))

    with monkeypatch.context() as patch:
        patch.setattr(RequestStats, "changed", break_after_ten_pages)
        with pytest.raises(ApiError, match="kept failing"):
            load_sandbox(sandbox, destination="ducklake")
    assert lake_ids() == before
    sandbox.set_faults(fault_rate=0.0)
    first = load_sandbox(sandbox, destination="ducklake")
    rescan = load_sandbox(sandbox, destination="ducklake", start=records[500]["created_at"], end=records[2_500]["created_at"])
    assert rescan.records_loaded > 1_000 and rescan.cursor == first.cursor
    ids = lake_ids()
    assert len(ids) == len(set(ids)) == 3_000
    assert {id_ for _, id_ in ids} == sandbox.ids()


# ----------------------------------------------------------------------------- the models on the lake
LAKES = [
    "sqlite-local",
    pytest.param("postgres-s3", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=LAKES)
def lake(request: pytest.FixtureRequest, known_data: dict[str, Any], seeds_dir: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The known data loaded into a lake and the models built there, once per kind of lake."""
    kind = request.param
    folder = tmp_path_factory.mktemp(kind)
    endpoint = None
    if kind.endswith("-s3"):
        endpoint = request.getfixturevalue("s3_server")
    if kind.startswith("postgres") and not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432: start it (pg_ctlcluster <version> main start)")
    env, schema = lake_settings(kind, folder, endpoint)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.chdir(folder)
        try:
            result = load_sandbox(known_data["sandbox"], destination="ducklake", dataset="zendesk_audit")
            assert result.records_loaded == len(known_data["records"])
            pipeline = create_pipeline("ducklake", "zendesk_audit")
            build = build_models(pipeline, seeds_dir=seeds_dir)
            yield {"kind": kind, "pipeline": pipeline, "build": build, "folder": folder, "env": env}
        finally:
            if schema:
                drop_postgres_schema(schema)


def test_the_models_on_the_lake_give_the_known_answers(lake: dict[str, Any], known_data: dict[str, Any], seeds_dir: Path) -> None:
    """The same answers as on the DuckDB file (test_sql_models checks the file against the same reference)."""
    assert sorted(lake["build"].built) == sorted(model_names())
    actual = actual_answers(query_on(lake["pipeline"]), "zendesk_audit_models")
    assert_same_answers(actual, expected_answers(known_data["records"], seeds_dir, "Europe/Paris"))


def test_the_marts_are_lake_tables(lake: dict[str, Any]) -> None:
    with lake["pipeline"].sql_client() as client:
        tables = dict(client.execute_sql(
            "select table_name, table_type from information_schema.tables "
            "where table_catalog = 'ducklake' and table_schema = 'zendesk_audit_models'"
        ))
        assert tables["off_hours_changes_v2"] == "BASE TABLE" and tables["off_hours_changes"] == "VIEW"
        changed = client.execute_sql("select changes from ducklake.snapshots() order by snapshot_id")
        assert any("zendesk_audit_models.off_hours_changes_v2" in str(change) for (change,) in changed)


def test_the_commands_read_the_marts_on_the_lake(lake: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(lake["folder"])
    runner = CliRunner()
    status = runner.invoke(main, ["models", "status", "--destination", "ducklake"])
    assert status.exit_code == 0, status.output
    alerts = runner.invoke(main, ["alerts", "--destination", "ducklake", "--history", "--format", "json"])
    assert alerts.exit_code in (0, 3), alerts.output
    export = runner.invoke(main, ["evidence", "--destination", "ducklake", "--from", "2020-01-01", "--to", "2030-01-01",
                                  "--out", str(tmp_path / "evidence")])
    assert export.exit_code == 0, export.output
    assert runner.invoke(main, ["evidence", "verify", str(tmp_path / "evidence")]).exit_code == 0
    report = runner.invoke(main, ["report", "--destination", "ducklake", "--from", "2020-01-01", "--to", "2030-01-01",
                                  "--format", "html", "--out", str(tmp_path / "report.html")])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "report.html").stat().st_size > 0


def test_a_bi_tool_reads_the_marts_through_attach(lake: dict[str, Any]) -> None:
    """What docs/destinations.md tells a BI tool: load the extensions, ATTACH the catalog, query the views."""
    if lake["kind"] != "sqlite-local":
        pytest.skip("the SQLite catalog's ATTACH line; the PostgreSQL one is in the concurrency test")
    with duckdb.connect() as connection:
        load_extensions(connection, lake_extensions("sqlite", None))
        connection.execute(f"attach 'ducklake:sqlite:{lake['folder'] / 'lake.sqlite'}' as zendesk (read_only)")
        connection.execute("use zendesk")
        rows = connection.execute("select count(*) from zendesk_audit_models.off_hours_changes").fetchone()
    with lake["pipeline"].sql_client() as client:
        assert rows == tuple(client.execute_sql("select count(*) from zendesk_audit_models.off_hours_changes")[0])


# ----------------------------------------------------------------------------- several writers, many readers
def lake_connection(env: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """A reader as a BI tool would be: DuckDB, the extensions from their packages, the lake attached read-only."""
    connection = duckdb.connect()
    load_extensions(connection, lake_extensions("postgres", None))
    catalog = "dbname=test host=127.0.0.1 port=5432 user=postgres password=postgres"
    connection.execute(
        f"attach 'ducklake:postgres:{catalog}' as zendesk "
        f"(metadata_schema '{env[LAKE_ENV + 'METADATA_SCHEMA']}', read_only)"
    )
    return connection


def rows_by_account(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(connection.execute(
        "select subdomain, count(*) from zendesk.zendesk_audit.audit_logs group by subdomain").fetchall())


@pytest.mark.postgres
def test_two_accounts_load_into_one_lake_at_once_while_readers_read_and_models_build(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two machines (two working folders, two dlt state folders) load two accounts into one lake with a
    PostgreSQL catalog. The first is held inside its load, its rows staged, its merge not run; the
    second loads everything meanwhile (no lock makes it wait); a models build runs then too; a reader
    polls while the first commits and sees its account's rows all or none."""
    from test_races import Run

    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432: start it (pg_ctlcluster <version> main start)")
    acme, beta = sandbox_factory(subdomain="acme", records=600), sandbox_factory(subdomain="beta", seed=2, records=400)
    env, schema = lake_settings("postgres-local", tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        (tmp_path / "machine-a").mkdir()
        (tmp_path / "machine-b").mkdir()
        args = ("load", "--destination", "ducklake", "--no-models")
        first = Run(acme, tmp_path / "machine-a", "state", *args, pause_at="merge")
        assert first.wait_for(first.marker.exists), first.finish()
        second_code, _, second_err = Run(beta, tmp_path / "machine-b", "state", *args).finish()
        assert second_code == 0, second_err

        reader = lake_connection(env)
        assert rows_by_account(reader) == {"beta": 400}, "the held load shows nothing before it commits"
        monkeypatch.chdir(tmp_path / "machine-b")
        build = build_models(create_pipeline("ducklake", "zendesk_audit"))
        assert sorted(build.built) == sorted(model_names())

        seen: list[int] = []
        done = False

        def poll() -> None:
            with lake_connection(env) as connection:
                while not done:
                    seen.append(rows_by_account(connection).get("acme", 0))

        watcher = threading.Thread(target=poll)
        watcher.start()
        first.release()
        first_code, _, first_err = first.finish()
        done = True
        watcher.join(timeout=60)
        assert first_code == 0, first_err
        assert set(seen) <= {0, 600} and seen, f"a reader saw part of a commit: {sorted(set(seen))}"

        with lake_connection(env) as connection:
            ids = connection.execute("select subdomain, id from zendesk.zendesk_audit.audit_logs").fetchall()
        assert len(ids) == len(set(ids)) == 1_000, "each record once"
        assert {id_ for subdomain, id_ in ids if subdomain == "acme"} == acme.ids()
        assert {id_ for subdomain, id_ in ids if subdomain == "beta"} == beta.ids()
        reader.close()
    finally:
        drop_postgres_schema(schema)


# ----------------------------------------------------------------------------- time travel
PERIOD = ["--from", "2020-01-01", "--to", "2030-01-01"]


def manifest_of(folder: Path) -> dict[str, Any]:
    import json

    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def without_generation_time(html: str) -> str:
    return re.sub(r"(<dd>|Generated )[^<]*? by zendesk-audit", r"\1(moment) by zendesk-audit", html)


def test_as_of_reproduces_an_export_and_a_report_after_more_loads(
    lake: dict[str, Any], sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export and a report name the snapshot they read; after another account's load and a models
    build, `--as-of` that snapshot (by id or by time) writes them again, identical but for the time
    they were generated. Runs last on its lake: it adds an account there."""
    if lake["kind"] != "sqlite-local":
        pytest.skip("time travel is the catalog's: one lake is enough")
    from zendesk_audit.load.api_load import load_account

    monkeypatch.chdir(lake["folder"])
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, [*args, "--destination", "ducklake"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("evidence", *PERIOD, "--out", str(tmp_path / "before"))
    snapshot = manifest_of(tmp_path / "before")["lake_snapshot"]
    # The export recorded its snapshot in the lake (for `lake maintain`): one commit more, which the report reads.
    printed = run("report", *PERIOD, "--out", str(tmp_path / "before.html"))
    read = re.search(r"from lake snapshot (\d+) of (\S+),", printed)
    assert read and int(read[1]) > snapshot["id"], printed
    assert f"read from lake snapshot {read[1]} of {read[2]}" in (tmp_path / "before.html").read_text(encoding="utf-8")

    beta = sandbox_factory(subdomain="beta", records=60, seed=3)
    loaded = load_account({"subdomain": "beta", "base_url": beta.base_url, "credentials": api_token_credentials(beta)},
                          destination="ducklake", dataset_name="zendesk_audit", build_models=True)
    assert loaded.lake_snapshot is not None and loaded.lake_snapshot["id"] > snapshot["id"]

    with create_pipeline("ducklake", "zendesk_audit").sql_client() as client:
        accounts = client.execute_sql("select distinct subdomain from audit_logs order by 1")
    assert accounts == [("acme",), ("beta",)], "the lake changed since the first export"

    run("evidence", *PERIOD, "--as-of", str(snapshot["id"]), "--out", str(tmp_path / "again"))
    before, again = manifest_of(tmp_path / "before"), manifest_of(tmp_path / "again")
    assert again["lake_snapshot"] == snapshot
    assert {**again, "generated_at": None} == {**before, "generated_at": None}
    for item in before["files"]:
        assert (tmp_path / "again" / item["path"]).read_bytes() == (tmp_path / "before" / item["path"]).read_bytes()

    # By time: the snapshot in force at that moment, the same one.
    run("report", *PERIOD, "--as-of", read[2], "--out", str(tmp_path / "again.html"))
    assert without_generation_time((tmp_path / "again.html").read_text(encoding="utf-8")) == without_generation_time(
        (tmp_path / "before.html").read_text(encoding="utf-8"))

    verified = runner.invoke(main, ["evidence", "verify", str(tmp_path / "before")])
    assert verified.exit_code == 0 and f"lake snapshot {snapshot['id']} is still in the lake" in verified.output
    gone = runner.invoke(main, ["report", *PERIOD, "--destination", "ducklake", "--as-of", "999999",
                                "--out", str(tmp_path / "x.html")])
    assert gone.exit_code == 2 and "keeps no snapshot 999999" in gone.output

    # Maintenance expires every old snapshot but the latest and the one the exports name. In its own
    # process, as a scheduler runs it: DuckDB's crash there (seen once, in `ducklake_flush_inlined_data`
    # inside this worker after everything above) fails this test instead of taking the worker down.
    maintenance = subprocess.run([sys.executable, "-m", "zendesk_audit", "lake", "maintain", "--keep-days", "0"],
                                 cwd=lake["folder"], capture_output=True, text=True, timeout=300)
    assert maintenance.returncode == 0, maintenance.stdout + maintenance.stderr
    maintained = maintenance.stdout
    kept = re.search(r"kept for evidence exports \(([\d, ]+)\)", maintained)
    assert kept and str(snapshot["id"]) in kept.group(1).split(", "), maintained
    run("evidence", *PERIOD, "--as-of", str(snapshot["id"]), "--out", str(tmp_path / "after-maintain"))
    for item in before["files"]:
        assert (tmp_path / "after-maintain" / item["path"]).read_bytes() == (tmp_path / "before" / item["path"]).read_bytes()
    expired = runner.invoke(main, ["report", *PERIOD, "--destination", "ducklake", "--as-of", str(loaded.lake_snapshot["id"]),
                                   "--out", str(tmp_path / "y.html")])
    assert expired.exit_code == 2 and f"keeps no snapshot {loaded.lake_snapshot['id']}" in expired.output
