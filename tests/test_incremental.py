"""Exactly once across runs: full load, no-op run, bursts, late records, overlaps, failed runs.

Every test loads over real HTTP from the sandbox into a real DuckDB file.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import duckdb_ids, load_sandbox
from zendesk_audit.errors import ApiError
from zendesk_audit.zendesk_api.client import ZendeskClient
from zendesk_audit.zendesk_api.stats import RequestStats

LIST_PATH = "/api/v2/audit_logs"
LAG = 5


def _no_duplicates(ids: list[int]) -> None:
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicated, f"{len(duplicated)} duplicated ids, e.g. {duplicated[:5]}"


def _wait_until_settled(created_at: datetime, lag: int) -> None:
    """Sleep until `created_at` is older than the lag, so a run may load it."""
    delay = (created_at + timedelta(seconds=lag + 1) - datetime.now(timezone.utc)).total_seconds()
    if delay > 0:
        time.sleep(delay)


def test_full_then_noop_then_exactly_the_new_records(sandbox_factory: Any, duckdb_path: Path) -> None:
    history_end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=60)
    sandbox = sandbox_factory(records=50_000, seed=3, history_end=history_end, history_days=30)

    first = load_sandbox(sandbox, duckdb_path, lag_seconds=LAG)
    ids = duckdb_ids(duckdb_path)
    assert sorted(ids) == sorted(sandbox.ids())
    assert first.records_loaded == 50_000

    sandbox.reset_counters()
    second = load_sandbox(sandbox, duckdb_path, lag_seconds=LAG)
    assert second.records_loaded == 0
    assert sandbox.counters()["requests"].get(LIST_PATH, 0) <= 2
    assert len(duckdb_ids(duckdb_path)) == 50_000

    last_loaded = max(record["created_at"] for record in sandbox.records())
    last_second = datetime.fromisoformat(last_loaded)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    added = sandbox.append(150, created_at=last_second, late=True)  # the cursor's own second, late
    added += sandbox.append(200, created_at=now - timedelta(seconds=3), late=True)  # late, inside the lag
    added += sandbox.append(150, created_at=now)  # new activity, one burst
    _wait_until_settled(now, LAG)

    third = load_sandbox(sandbox, duckdb_path, lag_seconds=LAG)
    assert third.records_loaded == 500
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()
    assert len(ids) == 50_500

    fourth = load_sandbox(sandbox, duckdb_path, lag_seconds=LAG)
    assert fourth.records_loaded == 0
    assert len(duckdb_ids(duckdb_path)) == 50_500


def test_records_younger_than_the_lag_wait_for_the_next_run(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=500, seed=4, history_end=datetime.now(timezone.utc) - timedelta(minutes=5))
    load_sandbox(sandbox, duckdb_path, lag_seconds=LAG)
    fresh_at = datetime.now(timezone.utc).replace(microsecond=0)
    fresh = sandbox.append(20, created_at=fresh_at)

    early = load_sandbox(sandbox, duckdb_path, lag_seconds=LAG)
    assert early.records_loaded == 0
    assert early.cursor is not None and datetime.fromisoformat(early.cursor) < fresh_at

    late = sandbox.append(30, created_at=fresh_at - timedelta(seconds=2), late=True)
    _wait_until_settled(fresh_at, LAG)
    settled = load_sandbox(sandbox, duckdb_path, lag_seconds=LAG)
    assert settled.records_loaded == len(fresh) + len(late)
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()


def test_same_second_burst_across_pages(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=300, seed=5, history_end=datetime(2026, 1, 1, tzinfo=timezone.utc))
    burst_at = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    sandbox.append(250, created_at=burst_at)  # two and a half pages in one second
    result = load_sandbox(sandbox, duckdb_path)
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()
    assert result.records_loaded == 550


def test_overlapping_rescan_adds_nothing_and_keeps_the_cursor(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=3_000, seed=6)
    first = load_sandbox(sandbox, duckdb_path)
    records = sandbox.records()
    start, end = records[500]["created_at"], records[2_500]["created_at"]

    rescan = load_sandbox(sandbox, duckdb_path, start=start, end=end)
    assert rescan.records_loaded > 1_000
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()
    assert rescan.cursor == first.cursor
    # dlt's row id comes with the rows (subdomain:id), so a record loaded again keeps it.
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        row_ids = connection.execute("select _dlt_id, subdomain || ':' || id from zendesk_audit.audit_logs").fetchall()
    assert all(row_id == expected for row_id, expected in row_ids) and len(row_ids) == 3_000


def test_faulty_api_still_loads_exactly_once(
    sandbox_factory: Any, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ZendeskClient, "_backoff", lambda self, attempt: 0.01)
    sandbox = sandbox_factory(records=5_000, seed=7, fault_rate=0.3, fault_seed=11)
    result = load_sandbox(sandbox, duckdb_path)
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()
    assert result.retries > 0
    assert sum(sandbox.counters()["faults"].values()) > 0


def test_a_run_that_fails_midway_commits_nothing_and_the_rerun_completes(
    sandbox_factory: Any, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ZendeskClient, "_backoff", lambda self, attempt: 0.01)
    sandbox = sandbox_factory(records=4_000, seed=8)
    load_sandbox(sandbox, duckdb_path, end=sandbox.records()[1_000]["created_at"], start="2000-01-01")
    loaded_before = len(duckdb_ids(duckdb_path))

    def break_after_ten_pages(stats: RequestStats) -> None:
        if stats.pages == 10:
            sandbox.set_faults(fault_rate=1.0, fault_kinds=("500",))

    monkeypatch.setattr(RequestStats, "changed", break_after_ten_pages)
    with pytest.raises(ApiError, match="kept failing"):
        load_sandbox(sandbox, duckdb_path)
    assert len(duckdb_ids(duckdb_path)) == loaded_before

    monkeypatch.undo()
    sandbox.set_faults(fault_rate=0.0)
    load_sandbox(sandbox, duckdb_path)
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()


def test_new_fields_are_kept_and_old_field_name_is_mapped(sandbox_factory: Any, duckdb_path: Path) -> None:
    import duckdb

    sandbox = sandbox_factory(records=100, seed=9, history_end=datetime(2026, 1, 1, tzinfo=timezone.utc))
    sandbox.append(1, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), zendesk_new_field="hello")
    load_sandbox(sandbox, duckdb_path)
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        assert connection.execute(
            "select count(*) from zendesk_audit.audit_logs where extra_fields = '{\"zendesk_new_field\":\"hello\"}'"
        ).fetchone() == (1,)
        types = dict(connection.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'zendesk_audit' and table_name = 'audit_logs'"
        ).fetchall())
    assert types["id"] == "BIGINT" and types["actor_id"] == "BIGINT" and types["source_id"] == "BIGINT"
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["subdomain"] == "VARCHAR" and types["change_description"] == "VARCHAR"


def test_bad_records_are_rejected_whole_not_lost_and_the_run_goes_on(sandbox_factory: Any, duckdb_path: Path) -> None:
    import duckdb

    sandbox = sandbox_factory(records=200, seed=10, history_end=datetime(2026, 1, 1, tzinfo=timezone.utc))
    at = datetime(2026, 1, 2, tzinfo=timezone.utc)
    sandbox.append(1, created_at=at, actor_id="not-a-number")
    sandbox.append(1, created_at=at, source_label={"nested": True})
    good = sandbox.append(3, created_at=at)
    result = load_sandbox(sandbox, duckdb_path)
    assert result.records_loaded == 203 and result.records_rejected == 2
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        reasons = sorted(row[0] for row in connection.execute(
            "select reason from zendesk_audit.audit_logs_rejected"
        ).fetchall())
        raw = connection.execute("select raw_json from zendesk_audit.audit_logs_rejected").fetchall()
    assert reasons == ["actor_id 'not-a-number' is not an integer", "source_label {'nested': True} is not text"]
    assert any('"not-a-number"' in row[0] for row in raw)
    assert {record["id"] for record in good} <= set(duckdb_ids(duckdb_path))

    again = load_sandbox(sandbox, duckdb_path, start="2025-12-31", end="2026-01-03")
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        assert connection.execute("select count(*) from zendesk_audit.audit_logs_rejected").fetchone() == (2,)
    assert again.records_rejected == 2


def test_a_long_backfill_commits_window_by_window_in_chunks(sandbox_factory: Any, duckdb_path: Path) -> None:
    from zendesk_audit.load.api_load import load_account

    sandbox = sandbox_factory(records=1_500, seed=12)
    args = {"subdomain": sandbox.config.subdomain, "base_url": sandbox.base_url, "window_records": 300,
            "credentials": __import__("conftest").api_token_credentials(sandbox)}
    result = load_account(args, "duckdb", duckdb_path=str(duckdb_path), chunk_pages=4)
    assert len(result.load_ids) >= 3  # windows of under 300 records, about 400 records a chunk
    assert result.records_loaded == 1_500
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()
    assert sandbox.counters()["requests"]["/api/v2/account/settings"] == 1


def test_parallel_windows_load_exactly_once_across_bursts_and_empty_years(
    sandbox_factory: Any, duckdb_path: Path
) -> None:
    sandbox = sandbox_factory(records=6_000, seed=13, history_end=datetime(2026, 1, 1, tzinfo=timezone.utc),
                              history_days=30)
    burst = datetime(2025, 12, 20, 10, 0, 0, tzinfo=timezone.utc)
    sandbox.append(450, created_at=burst)  # one second, larger than a window: cannot be split
    sandbox.append(3, created_at=datetime(2019, 5, 1, tzinfo=timezone.utc))  # years of nothing around
    result = load_sandbox(sandbox, duckdb_path, workers=4, window_records=400)
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids() and result.records_loaded == 6_453
    # Empty years cost nothing: the only requests beyond the pages the records fill are the last
    # pages of windows (about one per 400 records here) and the count probe.
    pages_needed = -(-6_453 // 100)
    assert sandbox.counters()["list_requests"] <= pages_needed + 6_453 // 400 + 4, sandbox.counters()["list_requests"]


@pytest.mark.parametrize("mode", ["empty", "null", "absent", "cursor"])
def test_loads_stop_cleanly_on_every_last_page_spelling_and_lose_nothing(
    sandbox_factory: Any, duckdb_path: Path, mode: str
) -> None:
    """Zendesk ends a walk with `after_cursor: ""` and `links.next: ""`; windows that end on a full
    page, on a short one and on an empty one (years of nothing) load exactly once in each spelling."""
    history_end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=60)
    sandbox = sandbox_factory(records=3_000, seed=14, history_end=history_end, history_days=20,
                              last_page_cursor=mode)
    sandbox.append(3, created_at=datetime(2019, 5, 1, tzinfo=timezone.utc))
    first = load_sandbox(sandbox, duckdb_path, lag_seconds=1, workers=2, window_records=500)
    assert first.records_loaded == 3_003 and first.retries == 0
    sandbox.reset_counters()
    assert load_sandbox(sandbox, duckdb_path, lag_seconds=1).records_loaded == 0
    assert sandbox.counters()["requests"].get(LIST_PATH, 0) <= 2
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sandbox.append(7, created_at=now)
    _wait_until_settled(now, 1)
    assert load_sandbox(sandbox, duckdb_path, lag_seconds=1).records_loaded == 7
    ids = duckdb_ids(duckdb_path)
    _no_duplicates(ids)
    assert set(ids) == sandbox.ids()


def test_duckdb_memory_is_bounded_while_loading_and_given_back_after(
    sandbox: Any, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 64 MB merge limit must not outlive the load: a report over a million rows needs more."""
    import zendesk_audit.load.api_load as pipeline_module

    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", raising=False)
    limits: dict[str, str] = {}
    real_run_load = pipeline_module.run_load

    def run_load_and_look(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        result = real_run_load(pipeline, *args, **kwargs)
        with pipeline.sql_client() as client:
            limits["loading"] = client.execute_sql("select current_setting('memory_limit')")[0][0]
        limits["pipelines_dir"] = pipeline.pipelines_dir
        return result

    monkeypatch.setattr(pipeline_module, "run_load", run_load_and_look)
    load_sandbox(sandbox, duckdb_path)
    assert "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG" not in os.environ
    after = pipeline_module.create_pipeline("duckdb", duckdb_path=str(duckdb_path), pipelines_dir=limits["pipelines_dir"])
    with after.sql_client() as client:
        limits["after"] = client.execute_sql("select current_setting('memory_limit')")[0][0]
    assert limits["loading"] == "61.0 MiB"  # 64 MB
    assert limits["after"] != limits["loading"]
