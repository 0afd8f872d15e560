"""The HTTP layer against the sandbox: every fault kind retried, pacing under a limit, error envelopes."""
from __future__ import annotations

from typing import Any

import pytest

from zendesk_audit.errors import ApiError, SubdomainError
from zendesk_audit.settings import MAX_WORKERS
from zendesk_audit.zendesk_api.client import ZendeskClient
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials
from zendesk_audit.zendesk_api.pacing import parse_retry_after
from zendesk_audit.zendesk_api.stats import RequestStats
from zendesk_sandbox.config import LAST_PAGE_CURSORS

PARAMS = {"page[size]": 100, "sort": "created_at"}


def _client(sandbox: Any, **kwargs: Any) -> ZendeskClient:
    credentials = ZendeskCredentials(email=sandbox.config.email, api_token=sandbox.config.api_token)
    return ZendeskClient(sandbox.base_url, credentials, stats=RequestStats(), **kwargs)


def _all_ids(client: ZendeskClient) -> list[int]:
    return [record["id"] for page in client.iter_audit_log_pages(PARAMS) for record in page]


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "reset", "truncated"])
def test_each_fault_kind_is_retried_and_nothing_is_lost_or_repeated(sandbox_factory: Any, kind: str) -> None:
    sandbox = sandbox_factory(records=1_500, seed=51, fault_rate=0.4, fault_seed=3, fault_kinds=(kind,))
    client = _client(sandbox, backoff_base=0.01, backoff_max=0.05)
    ids = _all_ids(client)
    assert ids == [record["id"] for record in sandbox.records()]
    assert sandbox.counters()["faults"].get(kind, 0) > 0
    assert client.stats.retries == sum(sandbox.counters()["faults"].values())


def test_pacing_on_rate_limit_headers_keeps_429s_rare(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(records=4_000, seed=52, rate_limit=15, rate_window=1.0)
    client = _client(sandbox, backoff_base=0.01)
    ids = _all_ids(client)
    assert len(ids) == 4_000
    assert sandbox.counters()["rate_limited"] <= 2
    assert client.stats.rate_limit_waits > 0


def test_a_429_with_retry_after_is_honoured(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(records=300, seed=53, rate_limit=2, rate_window=1.0)
    client = _client(sandbox, backoff_base=0.01)
    client._note_rate_limit = lambda headers: None  # type: ignore[method-assign]  # no pacing: hit the limit
    assert len(_all_ids(client)) == 300
    assert sandbox.counters()["rate_limited"] > 0
    assert client.stats.waited_seconds >= 0.5  # slept as told, not the 0.01 s backoff


def test_retries_are_bounded(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(records=300, seed=54, fault_rate=1.0, fault_kinds=("503",))
    client = _client(sandbox, backoff_base=0.01, max_attempts=4)
    with pytest.raises(ApiError, match="after 4 attempts"):
        _all_ids(client)
    assert sandbox.counters()["list_requests"] == 4


@pytest.mark.parametrize("mode", LAST_PAGE_CURSORS)
@pytest.mark.parametrize("records", [250, 200])
def test_the_last_page_ends_the_walk_whichever_way_it_writes_its_cursor(
    sandbox_factory: Any, mode: str, records: int
) -> None:
    """Zendesk's last page carries `after_cursor` and `links.next` as "": the walk stops on
    has_more=false, asks nothing more and loses nothing; likewise for null, absent or a real cursor."""
    sandbox = sandbox_factory(records=records, seed=55, last_page_cursor=mode)
    client = _client(sandbox, backoff_base=0.01)
    assert _all_ids(client) == [record["id"] for record in sandbox.records()]
    assert sandbox.counters()["list_requests"] == -(-records // 100)
    assert client.stats.retries == 0
    sandbox.reset_counters()
    assert list(client.iter_audit_log_pages({**PARAMS, "filter[action]": "nope"})) == [[]]
    assert sandbox.counters()["list_requests"] == 1 and client.stats.retries == 0


@pytest.mark.parametrize("mode", ["empty", "null", "absent"])
def test_has_more_without_a_usable_cursor_is_asked_again_then_fails(sandbox_factory: Any, mode: str) -> None:
    sandbox = sandbox_factory(records=300, seed=56, last_page_cursor=mode, fault_rate=1.0,
                              fault_kinds=("no_cursor",))
    client = _client(sandbox, backoff_base=0.01, max_attempts=3)
    with pytest.raises(ApiError, match=r"\(has_more without an after_cursor\) after 3 attempts"):
        _all_ids(client)
    assert sandbox.counters()["list_requests"] == 3


@pytest.mark.parametrize(
    "value, seconds",
    [("3", 3.0), ("1.5", 1.5), (" 2 ", 2.0), ("soon", None), ("-1", None), ("nan", None), (None, None),
     ("100000", 100000.0), ("inf", 1e9), ("1e400", 1e9)],  # bounded and finite: refused as too long by the pacer
)
def test_retry_after_values(value: Any, seconds: Any) -> None:
    assert parse_retry_after(value) == seconds


def test_unknown_endpoint_names_the_host(sandbox: Any) -> None:
    credentials = ZendeskCredentials(email=sandbox.config.email, api_token=sandbox.config.api_token)
    client = ZendeskClient(sandbox.base_url + "/nowhere", credentials)
    with pytest.raises(SubdomainError, match="InvalidEndpoint"):
        _all_ids(client)


def test_the_load_keeps_to_its_share_of_the_limit(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(records=3_000, seed=55, rate_limit=20, rate_window=1.0)
    client = _client(sandbox, backoff_base=0.01, rate_limit_share=0.5)
    seen: list[float] = []
    note = client._note_rate_limit

    def spy(headers: Any) -> None:
        seen.append(float(headers["X-Rate-Limit-Remaining"]))
        note(headers)

    client._note_rate_limit = spy  # type: ignore[method-assign]
    assert len(_all_ids(client)) == 3_000
    assert sandbox.counters()["rate_limited"] == 0
    # Half of the 20 requests a second stays with the other integrations (one request of slack).
    assert min(seen) >= 20 * 0.5 - 1, min(seen)


def test_workers_follow_latency_and_budget_and_stay_few_on_fast_answers(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(sandbox)
    assert client.auto_workers() == 4  # nothing measured yet
    client.budget_per_second = 700 * 0.5 / 60  # a standard account at the default share
    client.latency_seconds = 0.4
    assert client.auto_workers() == 4  # ceil(5.8/s x 0.4 s x 1.5)
    client.budget_per_second = 2_500 / 60
    assert client.auto_workers() == 25  # Enterprise Plus: ceil(41.7/s x 0.4 s x 1.5)
    assert client.auto_workers(headroom=1.0) == 17  # what the budget needs in flight
    client.latency_seconds = 5.0
    assert client.auto_workers() == MAX_WORKERS  # the ceiling
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    client.latency_seconds = 0.004  # the sandbox on loopback: decoding is the limit, not waiting
    client.budget_per_second = 1_000_000 / 60
    assert client.auto_workers() == 4
