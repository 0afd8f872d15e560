"""The same load into PostgreSQL (the machine's real server) and into Parquet files, and state per database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import duckdb_ids, load_sandbox, postgres_rows

COLUMNS = (
    "id, subdomain, created_at, action, action_label, actor_id, actor_name, ip_address, source_id, source_type, "
    "source_label, change_description, url"
)


def _duckdb_rows(path: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(f"select {COLUMNS} from zendesk_audit.audit_logs order by id").fetchall()


@pytest.mark.postgres
def test_postgres_gets_the_same_rows_as_duckdb(
    sandbox_factory: Any, duckdb_path: Path, postgres: str
) -> None:
    history_end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)
    sandbox = sandbox_factory(records=5_000, seed=41, history_end=history_end, history_days=20)
    load_sandbox(sandbox, duckdb_path)
    first = load_sandbox(sandbox, destination="postgres", dataset=postgres)
    assert first.records_loaded == 5_000

    last_second = datetime.fromisoformat(sandbox.records()[-1]["created_at"])
    sandbox.append(120, created_at=last_second, late=True)
    second = load_sandbox(sandbox, destination="postgres", dataset=postgres)
    load_sandbox(sandbox, duckdb_path)
    assert second.records_loaded == 120

    expected = _duckdb_rows(duckdb_path)
    got = postgres_rows(postgres, f"select {COLUMNS} from {{dataset}}.audit_logs order by id")
    assert len(got) == len(expected) == 5_120
    assert got == expected
    types = dict(postgres_rows(
        postgres,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = '{dataset}' and table_name = 'audit_logs'",
    ))
    assert types["id"] == "bigint" and types["actor_id"] == "bigint"
    assert types["created_at"] == "timestamp with time zone"
    assert postgres_rows(postgres, "select subdomain, iana_time_zone from {dataset}.accounts") == [
        (sandbox.config.subdomain, sandbox.config.iana_time_zone)
    ]


def test_filesystem_destination_writes_parquet(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", (tmp_path / "lake").as_uri())
    sandbox = sandbox_factory(records=2_000, seed=42, history_end=datetime(2026, 6, 1, tzinfo=timezone.utc))
    load_sandbox(sandbox, destination="filesystem")
    sandbox.append(50, created_at=datetime(2026, 6, 1, tzinfo=timezone.utc))
    sandbox.append(30, created_at=datetime(2026, 6, 2, tzinfo=timezone.utc))
    second = load_sandbox(sandbox, destination="filesystem")
    assert second.records_loaded == 80
    files = list((tmp_path / "lake" / "zendesk_audit" / "audit_logs").glob("*.parquet"))
    assert files, "no Parquet files written"
    with duckdb.connect() as connection:
        ids = [row[0] for row in connection.execute(
            f"select id from read_parquet({[str(f) for f in files]})"
        ).fetchall()]
        id_type = connection.execute(
            f"select typeof(id), typeof(created_at) from read_parquet('{files[0]}') limit 1"
        ).fetchone()
    assert len(ids) == len(set(ids)) == 2_080 and set(ids) == sandbox.ids()
    assert id_type == ("BIGINT", "TIMESTAMP WITH TIME ZONE")


def test_each_database_keeps_its_own_cursor(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=1_000, seed=43)
    first, second = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    load_sandbox(sandbox, first)
    result = load_sandbox(sandbox, second)
    assert result.records_loaded == 1_000
    assert sorted(duckdb_ids(second)) == sorted(duckdb_ids(first))


def test_duckdb_loads_parquet_files_not_inserts(sandbox: Any, duckdb_path: Path) -> None:
    from zendesk_audit.pipeline import create_pipeline

    load_sandbox(sandbox, duckdb_path)
    pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(duckdb_path))
    jobs = pipeline.last_trace.last_load_info.load_packages[0].jobs["completed_jobs"]
    formats = {job.job_file_info.file_format for job in jobs if job.job_file_info.table_name == "audit_logs"}
    assert "parquet" in formats and "insert_values" not in formats  # "sql" is the merge statement


def test_state_key_is_stable_per_database_and_holds_no_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from zendesk_audit.pipeline import create_destination, destination_fingerprint

    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", (tmp_path / "a").as_uri())
    lake_a = destination_fingerprint(create_destination("filesystem"), "zendesk_audit")
    assert lake_a == destination_fingerprint(create_destination("filesystem"), "zendesk_audit")
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", (tmp_path / "b").as_uri())
    assert lake_a != destination_fingerprint(create_destination("filesystem"), "zendesk_audit")

    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:first-password@db1:5432/analytics")
    first = destination_fingerprint(create_destination("postgres"), "zendesk_audit")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:other-password@db1:5432/analytics")
    assert destination_fingerprint(create_destination("postgres"), "zendesk_audit") == first
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:first-password@db2:5432/analytics")
    assert destination_fingerprint(create_destination("postgres"), "zendesk_audit") != first
    assert destination_fingerprint(create_destination("postgres"), "other_dataset") != first
