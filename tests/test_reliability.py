"""Reliability, at `make test` size: faults, kills, SIGTERM, concurrent loads, bad answers, bad config.

`make chaos` runs the same scenarios (tests/chaos.py) at full size and prints the table.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import chaos
import pytest

from conftest import duckdb_ids, load_sandbox
from zendesk_audit.errors import ApiError
from zendesk_audit.zendesk_api.client import ZendeskClient
from zendesk_sandbox.config import BAD_ANSWER_KINDS


def test_backfill_through_every_fault_and_a_request_limit(tmp_path: Path) -> None:
    outcome = chaos.fault_backfill(10_000, 0.15, tmp_path)
    assert outcome.ok, outcome
    assert outcome.faults > 10


def test_sigkill_in_every_step_then_rerun_loads_exactly_once(tmp_path: Path) -> None:
    outcome = chaos.kill_loop(20_000, 6, tmp_path, chunk_pages=10)
    assert outcome.ok, outcome
    assert outcome.kills == 6
    assert set(outcome.steps) == {"extract", "normalize", "load"}, outcome.steps  # type: ignore[attr-defined]
    # A rerun fetches what the killed run had not committed, plus at most the boundary second.
    assert outcome.worst_overhead <= 100, outcome  # type: ignore[attr-defined]


def test_sigterm_stops_within_seconds_and_the_next_run_completes(tmp_path: Path) -> None:
    outcome = chaos.sigterm_stop(20_000, tmp_path)
    assert outcome.exit_code == 1 and "stopped by signal 15" in outcome.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in outcome.stderr  # type: ignore[attr-defined]
    assert outcome.stopped_in < 5  # type: ignore[attr-defined]
    assert outcome.rerun_code == 0 and outcome.ok, outcome  # type: ignore[attr-defined]


def test_a_second_load_on_the_same_database_fails_clearly(tmp_path: Path) -> None:
    outcome = chaos.concurrent_loads(20_000, tmp_path)
    assert outcome.codes == (0, 1), outcome  # type: ignore[attr-defined]
    assert "another load into this database is running" in outcome.second_stderr  # type: ignore[attr-defined]
    assert outcome.ok, outcome


@pytest.mark.parametrize("kind", BAD_ANSWER_KINDS)
def test_bad_answers_are_retried_and_nothing_is_lost(
    sandbox_factory: Any, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(ZendeskClient, "_backoff", lambda self, attempt: 0.01)
    sandbox = sandbox_factory(records=2_000, seed=61, fault_rate=0.3, fault_seed=5, fault_kinds=(kind,))
    result = load_sandbox(sandbox, duckdb_path)
    ids = duckdb_ids(duckdb_path)
    assert len(ids) == len(set(ids)) and set(ids) == sandbox.ids()
    assert sandbox.counters()["faults"].get(kind, 0) > 0
    # A repeated record is usable: it is kept once (batches.one_row_per_id), not asked for again.
    assert result.retries > 0 if kind != "repeat_record" else result.retries == 0
    if kind == "429-fractional":
        assert result.rate_limit_waits > 0


@pytest.mark.parametrize("kind", ["html", "empty", "no_audit_logs", "no_cursor", "repeat_cursor"])
def test_an_api_that_keeps_answering_badly_fails_clearly_and_the_next_run_resumes(
    sandbox_factory: Any, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(ZendeskClient, "_backoff", lambda self, attempt: 0.01)
    sandbox = sandbox_factory(records=3_000, seed=62)
    first = load_sandbox(sandbox, duckdb_path, end=sandbox.records()[1_000]["created_at"], start="2000-01-01")
    sandbox.set_faults(fault_rate=1.0, fault_kinds=(kind,))
    with pytest.raises(ApiError, match="after 8 attempts") as caught:
        load_sandbox(sandbox, duckdb_path)
    assert "\n" not in str(caught.value)
    assert len(duckdb_ids(duckdb_path)) == first.records_loaded
    sandbox.set_faults(fault_rate=0.0)
    load_sandbox(sandbox, duckdb_path)
    ids = duckdb_ids(duckdb_path)
    assert len(ids) == len(set(ids)) and set(ids) == sandbox.ids()
