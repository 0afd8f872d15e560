"""Parallel windows without `count`: nothing lost or repeated at their edges, whatever the bounds; workers kept busy.

Every test but the planner's own reads pages over real HTTP from the sandbox, which answers each
reading of the undocumented `filter[created_at][]` bounds and serves offset pages with or without `count`.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import api_token_credentials, duckdb_ids
from zendesk_audit.extract.windows import Window, WindowPlan, fetch_windows
from zendesk_audit.zendesk_api.client import ZendeskClient
from zendesk_audit.zendesk_api.stats import RequestStats
from zendesk_sandbox.config import CREATED_AT_BOUNDS

START = datetime(2007, 1, 1, tzinfo=timezone.utc)
HISTORY_END = datetime(2026, 1, 1, tzinfo=timezone.utc)
BURSTS_AT = datetime(2025, 12, 30, 9, 0, 0, tzinfo=timezone.utc)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _bursty_sandbox(sandbox_factory: Any, seconds: int, per_second: int, history: int = 200, **config: Any) -> Any:
    """`history` sparse records, then a same-second burst in every second of a stretch, and one burst of
    2.5 pages: wherever a window or a chunk ends inside the stretch, it ends on a burst."""
    sandbox = sandbox_factory(records=history, seed=21, history_end=HISTORY_END, history_days=20, **config)
    for offset in range(seconds):
        sandbox.append(per_second, created_at=BURSTS_AT + timedelta(seconds=offset))
    sandbox.append(250, created_at=BURSTS_AT + timedelta(seconds=seconds // 2))
    return sandbox


def _client(sandbox: Any) -> ZendeskClient:
    return ZendeskClient(sandbox.base_url, api_token_credentials(sandbox), stats=RequestStats())


def _params(low: datetime, high: datetime) -> dict[str, Any]:
    """The request the source sends (`source.list_params`), without filters."""
    bounds = [low.strftime(TIME_FORMAT), high.strftime(TIME_FORMAT)]
    return {"page[size]": 100, "sort": "created_at", "filter[created_at][]": bounds}


def _in_chunks(client: ZendeskClient, end: datetime, **options: Any) -> list[tuple[datetime, list[dict[str, Any]]]]:
    """Chunk after chunk as a load runs them: each from the newest record of the last, minus a second."""
    chunks: list[tuple[datetime, list[dict[str, Any]]]] = []
    start = START
    while True:
        batches, more = fetch_windows(client, _params, start, end, **options)
        records = [record for batch in batches for record in batch]
        chunks.append((start, records))
        if not more():
            return chunks
        assert records, "a chunk that fetched nothing must not ask for another"
        newest = max(record["created_at"] for record in records)
        start = datetime.strptime(newest, TIME_FORMAT).replace(tzinfo=timezone.utc) - timedelta(seconds=1)


def _edges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The start of every window the planner opens."""
    starts: list[int] = []
    opened = WindowPlan._open

    def spy(plan: WindowPlan, start: int, end: int) -> Window:
        starts.append(start)
        return opened(plan, start, end)

    monkeypatch.setattr(WindowPlan, "_open", spy)
    return starts


@pytest.mark.parametrize("offset_count", [False, True], ids=["no-count", "count"])
@pytest.mark.parametrize("bounds", CREATED_AT_BOUNDS)
def test_windows_and_chunks_lose_and_repeat_nothing_at_their_edges(
    sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, bounds: str, offset_count: bool
) -> None:
    sandbox = _bursty_sandbox(sandbox_factory, seconds=240, per_second=4, created_at_bounds=bounds,
                              offset_count=offset_count)
    served = sandbox.records()
    edges = _edges(monkeypatch)
    end = HISTORY_END + timedelta(days=1)
    chunks = _in_chunks(_client(sandbox), end, workers=3, window_records=100, max_records=400)

    burst_seconds = range(int(BURSTS_AT.timestamp()), int(BURSTS_AT.timestamp()) + 240)
    assert sum(edge in burst_seconds for edge in edges) >= 5, "no window edge fell on a burst: the test proves nothing"
    assert len(chunks) >= 3
    for start, records in chunks:
        # A record twice in one chunk would be loaded twice (the merge is told rows are unique).
        assert not [i for i, n in Counter(r["id"] for r in records).items() if n > 1]
        # No hole: every record from the chunk's start to its newest is in it.
        low, high = start.strftime(TIME_FORMAT), max(r["created_at"] for r in records)
        assert {r["id"] for r in records} == {r["id"] for r in served if low <= r["created_at"] <= high}
    assert {r["id"] for _, records in chunks for r in records} == sandbox.ids()


@pytest.mark.parametrize("bounds, offset_count", [("inclusive", False), ("exclusive", True),
                                                  ("start-inclusive", False), ("end-inclusive", True)])
def test_a_chunked_parallel_load_loses_and_repeats_nothing_whatever_the_bounds(
    sandbox_factory: Any, duckdb_path: Path, bounds: str, offset_count: bool
) -> None:
    from zendesk_audit.load.api_load import load_account

    # Bursts only: every chunk of the load ends on one (a chunk may only end at its newest window).
    sandbox = _bursty_sandbox(sandbox_factory, seconds=200, per_second=3, history=0, created_at_bounds=bounds,
                              offset_count=offset_count)
    args = {"subdomain": "acme", "base_url": sandbox.base_url, "credentials": api_token_credentials(sandbox),
            "workers": 3, "window_records": 100}
    result = load_account(args, "duckdb", duckdb_path=str(duckdb_path), chunk_pages=3)
    ids = duckdb_ids(duckdb_path)
    assert len(ids) == len(set(ids)) and set(ids) == sandbox.ids()
    assert len(result.load_ids) >= 2


def test_idle_workers_are_kept_busy_without_count(sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One dense month in twenty empty years: the workers share it, and the empty years cost nothing."""
    sandbox = sandbox_factory(records=4_000, seed=22, history_end=HISTORY_END, history_days=30, latency_ms=20)
    client = _client(sandbox)
    in_flight = {"now": 0, "most": 0}
    lock = threading.Lock()
    request = client.request_json

    def counting(*args: Any, **kwargs: Any) -> Any:
        with lock:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            return request(*args, **kwargs)
        finally:
            with lock:
                in_flight["now"] -= 1

    monkeypatch.setattr(client, "request_json", counting)
    edges = _edges(monkeypatch)
    batches, more = fetch_windows(client, _params, START, HISTORY_END, workers=4, window_records=400, max_records=None)
    records = [record for batch in batches for record in batch]
    assert not more() and len(records) == 4_000 == len({r["id"] for r in records})
    assert in_flight["most"] == 4
    # Beyond the 40 pages the records fill: the count probe, and about one last page per window.
    assert sandbox.counters()["list_requests"] <= 40 + 1 + len(edges), (sandbox.counters()["list_requests"], len(edges))


def test_an_absurd_count_costs_no_extra_request(sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sandbox cannot answer an absurd count (it counts its records): the client's answer is replaced.
    sandbox = sandbox_factory(records=2_000, seed=23, history_end=HISTORY_END, history_days=30)
    client = _client(sandbox)
    monkeypatch.setattr(client, "count_audit_logs", lambda params: 10**12)
    edges = _edges(monkeypatch)
    batches, more = fetch_windows(client, _params, START, HISTORY_END, workers=4, window_records=500, max_records=None)
    assert sum(len(batch) for batch in batches) == 2_000 and not more()
    assert sandbox.counters()["list_requests"] <= 20 + len(edges) + 1


def test_an_idle_worker_steals_the_second_half_of_the_busiest_window() -> None:
    plan = WindowPlan(start=0, stop=100_000, window_records=2_000)
    first = plan.take(carve=True, steal=False)
    assert first is not None and (first.start, first.end) == (0, 100_000)  # nothing known yet: the whole range
    page = [{"id": i, "created_at": f"1970-01-01T00:00:{i // 10:02d}Z"} for i in range(100)]  # 10 a second
    kept, finished, resume = plan.on_page(first, page, has_more=True, stop_now=False)
    # Far denser than one window: it keeps about 2,000 records (190 s more) and hands the rest back.
    assert len(kept) == 90 and not finished and resume  # second 9 is read again by its next request
    assert first.end == 9 + 190 and plan.frontier == first.end
    second = plan.take(carve=True, steal=True)
    assert second is not None and second.start == first.end and second.end - second.start == 200  # carved at 10/s
    assert plan.take(carve=False, steal=False) is None
    thief = plan.take(carve=False, steal=True)
    # The rest of the first window, from second 9 to 199: the thief takes its second half.
    assert thief is not None and (thief.start, thief.end) == (104, 199) and first.end == 104


@pytest.mark.parametrize("offset_count", [False, True], ids=["no-count", "count"])
def test_an_account_that_does_not_answer_count_is_asked_once(sandbox_factory: Any, offset_count: bool) -> None:
    sandbox = sandbox_factory(records=50, seed=24, history_end=HISTORY_END, history_days=5, offset_count=offset_count)
    empty = (datetime(2010, 1, 1, tzinfo=timezone.utc), datetime(2011, 1, 1, tzinfo=timezone.utc))
    for _ in range(3):  # as a load's chunks and later runs do, each with its own client
        batches, more = fetch_windows(_client(sandbox), _params, *empty, workers=2, window_records=500, max_records=None)
        assert list(batches) == [] and not more()
    # With count: one probe a run, which ends an empty range. Without: one probe in all, then a page a run.
    assert sandbox.counters()["list_requests"] == (3 if offset_count else 1 + 3)
