"""`zendesk-audit dashboards superset`: the bundle in the repository, pointed at the team's destination.

What runs without Superset: the bundle's datasets name exactly the marts' columns (a mart that gains
or loses a column fails here, not in an analyst's browser), every chart reads columns its dataset
has, the zip carries the destination and no secret, and the command's errors are one line with
the right exit code. Superset itself, the browser and a load while the dashboard is open are in
tests/test_superset_dashboard.py (opt-in: `make bi-test`).
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from conftest import free_port, load_sandbox
from zendesk_audit.cli import cli
from zendesk_audit.dashboards.superset import (
    BUNDLE_DIR,
    BUNDLE_ROOT,
    DATABASE_FILE,
    PASSWORD_MASK,
    bundle_documents,
    bundle_zip,
    duckdb_connection,
    postgres_connection,
)
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models
from zendesk_sandbox.handle import Sandbox

CHART_NAMES = {
    "Local times are in this zone",
    "Changes outside business hours, by week and reason",
    "Most active actors",
    "Sensitive changes by severity, per month",
    "Latest role changes",
    "Changes by actors outside the approved list",
    "One item's history",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with 200 sandbox records and the models built."""
    database = tmp_path_factory.mktemp("dashboards") / "zendesk.duckdb"
    with Sandbox(records=200, seed=3) as sandbox:
        load_sandbox(sandbox, database)
    build_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(database)))
    return database


def _documents(kind: str) -> dict[str, dict[str, Any]]:
    return {path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in (BUNDLE_DIR / kind).rglob("*.yaml")}


def test_datasets_name_exactly_the_marts_columns(loaded: Path) -> None:
    datasets = _documents("datasets")
    with duckdb.connect(str(loaded), read_only=True) as connection:
        for table, dataset in datasets.items():
            columns = [row[0] for row in connection.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "order by ordinal_position", [dataset["schema"], table]).fetchall()]
            assert [column["column_name"] for column in dataset["columns"]] == columns, table
            assert dataset["main_dttm_col"] in columns


def test_every_chart_reads_columns_and_metrics_its_dataset_has() -> None:
    datasets = {dataset["uuid"]: dataset for dataset in _documents("datasets").values()}
    charts = _documents("charts")
    assert {chart["slice_name"] for chart in charts.values()} == CHART_NAMES
    for chart in charts.values():
        dataset = datasets[chart["dataset_uuid"]]
        columns = {column["column_name"] for column in dataset["columns"]}
        metrics = {metric["metric_name"] for metric in dataset["metrics"]}
        params = chart["params"]
        used = set(params.get("groupby", [])) | set(params.get("all_columns", [])) | {
            json.loads(order)[0] for order in params.get("order_by_cols", [])}
        if "x_axis" in params:
            used.add(params["x_axis"])
        assert used <= columns, (chart["slice_name"], used - columns)
        assert set(params.get("metrics", [])) <= metrics, chart["slice_name"]
    dashboard = _documents("dashboards")["zendesk_audit"]
    placed = {item["meta"]["uuid"] for item in dashboard["position"].values()
              if isinstance(item, dict) and item.get("type") == "CHART"}
    assert placed == {chart["uuid"] for chart in charts.values()}
    (item_filter,) = dashboard["metadata"]["native_filter_configuration"]
    assert item_filter["targets"][0]["datasetUuid"] == _documents("datasets")["item_history"]["uuid"]


def test_bundle_points_at_the_duckdb_file_read_only(loaded: Path) -> None:
    connection = duckdb_connection(str(loaded), "team_models")
    archive = zipfile.ZipFile(io.BytesIO(bundle_zip(connection, kind="assets")))
    names = archive.namelist()
    assert all(name.startswith(f"{BUNDLE_ROOT}/") for name in names)
    assert {f"{BUNDLE_ROOT}/metadata.yaml", f"{BUNDLE_ROOT}/{DATABASE_FILE}"} <= set(names)
    assert yaml.safe_load(archive.read(f"{BUNDLE_ROOT}/metadata.yaml"))["type"] == "assets"
    database = yaml.safe_load(archive.read(f"{BUNDLE_ROOT}/{DATABASE_FILE}"))
    assert database["sqlalchemy_uri"] == f"duckdb:///{loaded.resolve()}"
    assert database["extra"]["engine_params"]["connect_args"] == {"read_only": True}
    schemas = {yaml.safe_load(archive.read(name))["schema"] for name in names if "/datasets/" in name}
    assert schemas == {"team_models"}


def test_postgres_password_travels_apart_never_in_the_bundle() -> None:
    credentials = SimpleNamespace(username="audit", password="s3cret-pw", host="db.internal", port=5433,
                                  database="warehouse", query={"sslmode": "require"})
    connection = postgres_connection(credentials, "zendesk_audit_models")
    assert connection.sqlalchemy_uri == f"postgresql://audit:{PASSWORD_MASK}@db.internal:5433/warehouse?sslmode=require"
    assert connection.password == "s3cret-pw" and "s3cret" not in repr(connection) + connection.shown()
    data = bundle_zip(connection)
    assert b"s3cret" not in data
    assert bundle_documents(connection)[DATABASE_FILE]["extra"]["engine_params"]["connect_args"] == {}


def test_out_writes_the_dashboard_bundle(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    result = CliRunner().invoke(cli, ["dashboards", "superset", "--duckdb-path", str(loaded), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote the Superset bundle to {out}")
    archive = zipfile.ZipFile(out)
    assert yaml.safe_load(archive.read(f"{BUNDLE_ROOT}/metadata.yaml"))["type"] == "Dashboard"


@pytest.mark.parametrize(
    ("args", "environment", "code", "words"),
    [
        (["--duckdb-path", "missing.duckdb"], {}, 2, "missing.duckdb does not exist: load it first"),
        (["--destination", "snowflake"], {}, 2, "connects Superset to duckdb or postgres, not snowflake"),
        ([], {"DASHBOARDS__SUPERSET__USERNAME": "admin", "DASHBOARDS__SUPERSET__PASSWORD": "pw-123456"}, 2,
         "Superset's url is not set: [dashboards.superset] url in .dlt/config.toml, or DASHBOARDS__SUPERSET__URL"),
        ([], {"DASHBOARDS__SUPERSET__URL": "http://127.0.0.1:1", "DASHBOARDS__SUPERSET__USERNAME": "admin"}, 2,
         "Superset's password is not set: [dashboards.superset] password in .dlt/secrets.toml"),
        ([], {"DASHBOARDS__SUPERSET__URL": "ftp://host", "DASHBOARDS__SUPERSET__USERNAME": "admin",
              "DASHBOARDS__SUPERSET__PASSWORD": "pw-123456"}, 2, "must start with http:// or https://"),
        ([], {"DASHBOARDS__SUPERSET__URL": "CLOSED", "DASHBOARDS__SUPERSET__USERNAME": "admin",
              "DASHBOARDS__SUPERSET__PASSWORD": "pw-123456"}, 1, "cannot reach Superset at http://127.0.0.1:"),
    ],
)
def test_errors_are_one_line_without_the_password(loaded: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                  environment: dict[str, str], code: int, words: str) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, f"http://127.0.0.1:{free_port()}" if value == "CLOSED" else value)
    if "--duckdb-path" not in args:
        args = [*args, "--duckdb-path", str(loaded)]
    result = CliRunner().invoke(cli, ["dashboards", "superset", *args])
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert "pw-123456" not in result.output


# ----------------------------------------------------------------------------- dashboards publish
def test_publish_replaces_the_read_copy_with_the_loaded_file(loaded: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bi.duckdb"
    copy.write_bytes(b"an older copy")
    result = CliRunner().invoke(cli, ["dashboards", "publish", "--duckdb-path", str(loaded), "--to", str(copy)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"published {loaded.resolve()} to {copy.resolve()}")
    query = "select count(*) from zendesk_audit_models.stg_audit_logs"
    with duckdb.connect(str(loaded), read_only=True) as original, duckdb.connect(str(copy), read_only=True) as read:
        assert read.execute(query).fetchone() == original.execute(query).fetchone() == (200,)
    assert [path.name for path in tmp_path.iterdir()] == ["bi.duckdb"]  # no partial copy left behind


def test_publish_waits_for_a_writer_then_fails_in_one_line(loaded: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    writer = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
         "time.sleep(60)", str(loaded)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        result = CliRunner().invoke(cli, ["dashboards", "publish", "--duckdb-path", str(loaded), "--to",
                                          str(tmp_path / "bi.duckdb"), "--wait-for-lock", "0.5"])
    finally:
        writer.kill()
        writer.wait()
    assert result.exit_code == 1, result.output
    assert "is being written by another process" in result.output.strip().splitlines()[-1]
    assert not (tmp_path / "bi.duckdb").exists()


def test_publish_refuses_to_copy_a_file_onto_itself(loaded: Path) -> None:
    result = CliRunner().invoke(cli, ["dashboards", "publish", "--duckdb-path", str(loaded), "--to", str(loaded)])
    assert result.exit_code == 2 and "--to must name another file" in result.output
