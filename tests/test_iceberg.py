"""`--destination iceberg`: Iceberg tables in a SQL catalog, read back by DuckDB's iceberg extension
from its Python package (offline), with the models built on a DuckDB file beside the lake.

One load and one build of the known data (`test_sql_models`' sandbox, seeds and oracle) serve the
module; the exactly-once checks load a small sandbox of their own.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from test_sql_models import (  # noqa: F401 - known_data and seeds_dir are module fixtures used here
    MODEL_QUERIES,
    actual_answers,
    assert_same_answers,
    expected_answers,
    known_data,
    query_on,
    seeds_dir,
)

from conftest import POSTGRES_URL, load_sandbox, postgres_rows
from zendesk_audit.cli import cli as zendesk_audit
from zendesk_audit.errors import ConfigurationError
from zendesk_audit.load.duckdb_extensions import PACKAGES
from zendesk_audit.load.iceberg import CATALOG_FILE, ICEBERG, install_extensions, open_catalog
from zendesk_audit.load.pipeline import create_pipeline, lake_models_pipeline
from zendesk_audit.models.build import build_models, model_names

pytest.importorskip("pyiceberg", reason="the iceberg extra is not installed: pip install '.[iceberg]'")

REPOSITORY = Path(__file__).resolve().parents[1]


def lake_ids(duckdb_path: Path, dataset: str = "zendesk_audit") -> list[int]:
    """Every id the DuckDB file's view over the Iceberg table shows, duplicates kept."""
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        return [row[0] for row in connection.execute(f"select id from {dataset}.audit_logs").fetchall()]


@pytest.fixture(scope="module")
def lake(known_data: dict[str, Any], seeds_dir: Path,  # noqa: F811 - test_sql_models' fixtures
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The known data loaded once into a local Iceberg lake (SQLite catalog), the models built once."""
    folder = tmp_path_factory.mktemp("iceberg")
    bucket, duckdb_path, dataset = folder / "lake", folder / "models.duckdb", "zendesk_audit"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DESTINATION__ICEBERG__BUCKET_URL", bucket.as_uri())
        result = load_sandbox(known_data["sandbox"], duckdb_path=duckdb_path, destination=ICEBERG, dataset=dataset)
        assert result.records_loaded == len(known_data["records"])
        loaded = create_pipeline(ICEBERG, dataset, str(duckdb_path))
        pipeline = lake_models_pipeline(loaded, str(duckdb_path))
        build = build_models(pipeline, seeds_dir=seeds_dir)
        yield {"pipeline": pipeline, "loaded": loaded, "build": build, "bucket": bucket, "path": duckdb_path,
               "dataset": dataset, "seeds_dir": seeds_dir}


def cli(*args: str) -> Any:
    return CliRunner().invoke(zendesk_audit, list(args), catch_exceptions=False)


# ----------------------------------------------------------------------------- the lake itself
def test_the_tables_are_iceberg_tables_in_the_sqlite_catalog_beside_the_data(
    lake: dict[str, Any], known_data: dict[str, Any]  # noqa: F811
) -> None:
    assert (lake["bucket"] / CATALOG_FILE).is_file()
    destination = lake["loaded"].destination
    from zendesk_audit.load.destination_config import partial_configuration

    catalog = open_catalog(partial_configuration(destination))
    tables = {identifier[-1] for identifier in catalog.list_tables(lake["dataset"])}
    assert {"audit_logs", "accounts"} <= tables
    audit_logs = catalog.load_table((lake["dataset"], "audit_logs"))
    assert audit_logs.metadata_location.startswith((lake["bucket"] / lake["dataset"] / "audit_logs").as_uri())
    rows = audit_logs.scan(selected_fields=("subdomain", "id")).to_arrow()
    assert sorted(rows.column("id").to_pylist()) == sorted(record["id"] for record in known_data["records"])
    assert sorted(lake_ids(lake["path"])) == sorted(record["id"] for record in known_data["records"])


# ----------------------------------------------------------------------------- the models on it
def test_every_model_gives_the_known_answers_on_iceberg(lake: dict[str, Any], known_data: dict[str, Any]) -> None:  # noqa: F811
    """The same oracle as the DuckDB file's and PostgreSQL's (`test_sql_models`)."""
    assert sorted(lake["build"].built) == sorted(model_names())
    expected = expected_answers(known_data["records"], lake["seeds_dir"], "Europe/Paris")
    assert all(expected[name] for name in MODEL_QUERIES), "every model has rows to compare"
    assert_same_answers(actual_answers(query_on(lake["pipeline"]), f"{lake['dataset']}_models"), expected)


def test_the_commands_read_the_models_beside_the_lake(lake: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION__ICEBERG__BUCKET_URL", lake["bucket"].as_uri())
    where = ["--destination", ICEBERG, "--duckdb-path", str(lake["path"])]

    status = cli("models", "status", *where, "--seeds-dir", str(lake["seeds_dir"]), "--json")
    assert status.exit_code == 0, status.output
    states = [json.loads(line)["state"] for line in status.output.splitlines() if line.startswith("{")]
    assert states and set(states) == {"up to date"}

    build = cli("models", "build", *where, "--seeds-dir", str(lake["seeds_dir"]))
    assert build.exit_code == 0, build.output
    assert "0 built" in build.output  # nothing new in the lake: nothing to rebuild

    out = tmp_path / "review.html"
    report = cli("report", *where, "--from", "2000-01-01", "--to", "2100-01-01", "--out", str(out))
    assert report.exit_code == 0, report.output
    assert out.stat().st_size > 10_000

    alerts = cli("alerts", *where, "--history", "--format", "json")
    assert alerts.exit_code in (0, 3), alerts.output
    assert json.loads(alerts.output)["alerts"], "the known data holds sensitive changes"

    evidence = cli("evidence", *where, "--from", "2000-01-01", "--to", "2100-01-01", "--out", str(tmp_path / "evidence"))
    assert evidence.exit_code == 0, evidence.output
    manifest = json.loads((tmp_path / "evidence" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"], manifest
    assert cli("evidence", "verify", str(tmp_path / "evidence")).exit_code == 0


# ----------------------------------------------------------------------------- exactly once
def test_an_incremental_load_appends_only_new_records_and_a_rescan_adds_nothing(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__ICEBERG__BUCKET_URL", (tmp_path / "lake").as_uri())
    duckdb_path = tmp_path / "models.duckdb"
    sandbox = sandbox_factory(records=400, seed=6, history_end=datetime(2026, 1, 1, tzinfo=timezone.utc))
    sandbox.append(250, created_at=datetime(2026, 1, 1, 12, tzinfo=timezone.utc))  # a burst across pages
    first = load_sandbox(sandbox, duckdb_path, destination=ICEBERG)
    assert first.records_loaded == 650 and sorted(lake_ids(duckdb_path)) == sorted(sandbox.ids())

    last_second = max(record["created_at"] for record in sandbox.records())
    added = sandbox.append(120, created_at=datetime.fromisoformat(last_second.replace("Z", "+00:00")), late=True)
    second = load_sandbox(sandbox, duckdb_path, destination=ICEBERG)
    assert second.records_loaded == len(added)  # the cursor's own second, late: only these
    ids = lake_ids(duckdb_path)
    assert not [item for item, count in Counter(ids).items() if count > 1]
    assert set(ids) == sandbox.ids() and len(ids) == 770

    records = sandbox.records()
    rescan = load_sandbox(sandbox, duckdb_path, destination=ICEBERG, start=records[100]["created_at"],
                          end=records[500]["created_at"])
    assert rescan.records_loaded >= 300  # loaded again, merged onto the same rows
    assert rescan.cursor == second.cursor
    ids = lake_ids(duckdb_path)
    assert not [item for item, count in Counter(ids).items() if count > 1]
    assert set(ids) == sandbox.ids() and len(ids) == 770


def test_a_package_with_a_record_twice_merges_its_latest_row_and_many_keys_make_a_shallow_filter() -> None:
    import pyarrow as pa
    from pyiceberg.expressions import visitors

    from zendesk_audit.load.iceberg import key_filter, one_row_per_key

    at = [datetime(2026, 1, 1, hour, tzinfo=timezone.utc) for hour in (3, 1, 2, 1)]
    data = pa.table({"id": [7, 7, 8, 9], "subdomain": ["a", "a", "a", "b"], "created_at": at, "v": ["new", "old", "x", "y"]})
    kept = one_row_per_key(data, ["id", "subdomain"])
    assert sorted(zip(kept.column("id").to_pylist(), kept.column("v").to_pylist())) == [(7, "new"), (8, "x"), (9, "y")]
    # `id` first in the key, as dlt orders it: one `In` per subdomain, not one branch per id.
    many = pa.table({"id": list(range(5_000)), "subdomain": ["a"] * 4_000 + ["b"] * 1_000})
    expression = key_filter(many, ["id", "subdomain"])
    assert visitors.rewrite_not(expression) == expression  # visited without exceeding the recursion limit
    assert str(expression).count("In(") == 2


@pytest.mark.postgres
def test_a_postgresql_catalog_shared_by_the_load_and_the_readers(
    postgres: str, sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog in PostgreSQL (its own schema here), as several machines would share it."""
    import psycopg2

    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(f'create schema "{postgres}"')
    url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg2://") + f"?options=-csearch_path%3D{postgres}"
    bucket = tmp_path / "lake"
    monkeypatch.setenv("DESTINATION__ICEBERG__BUCKET_URL", bucket.as_uri())
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG",
                       json.dumps({"type": "sql", "uri": url, "warehouse": bucket.as_uri()}))
    sandbox = sandbox_factory(records=300, seed=8)
    duckdb_path = tmp_path / "models.duckdb"
    assert load_sandbox(sandbox, duckdb_path, destination=ICEBERG).records_loaded == 300
    assert not (bucket / CATALOG_FILE).exists()
    tables = postgres_rows(postgres, "select table_name from {dataset}.iceberg_tables where table_namespace = 'zendesk_audit'")
    assert {row[0] for row in tables} == {"audit_logs", "accounts"}
    assert sorted(lake_ids(duckdb_path)) == sorted(sandbox.ids())


# ----------------------------------------------------------------------------- offline
OFFLINE_SCRIPT = textwrap.dedent(
    """
    import sys
    import duckdb
    from zendesk_audit.load.duckdb_extensions import extension_path
    from zendesk_audit.load.iceberg import install_extensions

    # No route at all: the namespace has no interface but a loopback that is down.
    routes = [line for line in open("/proc/net/route").read().splitlines()[1:] if line.strip()]
    assert not routes, routes
    folder, location = sys.argv[1:]

    # What DuckDB does by itself: the iceberg extension asks for avro, which it tries to download.
    bare = duckdb.connect()
    bare.execute(f"install '{extension_path('iceberg')}'")
    try:
        bare.execute("load iceberg")
    except duckdb.Error as exc:
        print("without avro:", " ".join(str(exc).split()))
    else:
        raise SystemExit("the iceberg extension loaded without avro: this test no longer proves anything")
    bare.close()

    install_extensions()
    # A new database, as dbt, dlt or the duckdb shell would open: DuckDB autoloads what was installed.
    reader = duckdb.connect(f"{folder}/models.duckdb")
    print("rows:", reader.execute(f"select sum(id) from iceberg_scan('{location}')").fetchone()[0])
    """
)


def test_the_iceberg_extension_loads_from_its_package_with_the_network_unreachable(tmp_path: Path) -> None:
    """A fresh DuckDB extension folder (HOME) in a network namespace without a route (`unshare -n`)."""
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not available here (needs util-linux and the right to create a network namespace)")
    catalog = SqlCatalog("default", uri=f"sqlite:///{tmp_path}/catalog.sqlite", warehouse=tmp_path.as_uri())
    catalog.create_namespace("lake")
    table = catalog.create_table("lake.t", schema=pa.schema([("id", pa.int64())]))
    table.append(pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    location = catalog.load_table("lake.t").metadata_location
    home = tmp_path / "home"
    home.mkdir()
    environment = {**os.environ, "HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([unshare, "-n", sys.executable, "-c", OFFLINE_SCRIPT, str(tmp_path), location],
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'Failed to download extension "avro"' in done.stdout, done.stdout  # DuckDB alone needs the network
    assert "rows: 6" in done.stdout, done.stdout
    installed = {path.name for path in home.glob(".duckdb/extensions/*/*/*.duckdb_extension")}
    assert installed == {"iceberg.duckdb_extension", "avro.duckdb_extension"}


def test_a_missing_extension_package_is_one_line_saying_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PACKAGES, "iceberg", "duckdb_extension_not_installed")
    line = r"^the DuckDB extension iceberg is not installed .*pip install 'zendesk-audit\[iceberg\]'$"
    with pytest.raises(ConfigurationError, match=line):
        install_extensions()


def test_a_lake_on_a_bucket_without_a_catalog_is_one_line() -> None:
    """A SQLite catalog cannot live in a bucket: the user is told to configure a shared one."""
    from types import SimpleNamespace

    config = SimpleNamespace(bucket_url="s3://audit-bucket/zendesk", credentials=None)
    with pytest.raises(ConfigurationError, match=r"needs a catalog every writer and reader reaches.*iceberg_catalog"):
        open_catalog(config)
