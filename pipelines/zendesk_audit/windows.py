"""A long range split into time windows sized from the data, fetched by several workers at once.

Zendesk's list has no "how many" in cursor mode, but its offset mode answers `count`: one cheap
request (`per_page=1`) tells how many records a window holds. A window with more than
`window_records` is halved, depth first, so windows come out oldest first and planning stops as
soon as the chunk has enough: an empty year costs one request, a dense day is split further, and
no chunk plans more than it fetches. Each window is walked with cursor pagination by a worker;
all workers share one client, so one rate-limit budget.

Windows are half-open, [start, end), except the last, which includes the settled end. Zendesk does
not say whether its bounds are inclusive, so each request asks one second more on both sides and
the records are cut to the window here: no second is lost between two windows, none is kept twice.
A record in that extra second belongs to the next window (or run) and is dropped here; a record
outside the whole range asked for (a `created_at` of 0001, 1970 or 9999 in a 2026 window) is a
broken answer, kept as `OutsideRequest` so that it is rejected with its reason, never dropped unseen.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zendesk_audit.client import ZendeskClient
from zendesk_audit.settings import TIME_FORMAT
from zendesk_audit.times import parse_utc

SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    count: int | None
    last: bool


Params = Callable[[datetime, datetime], dict[str, Any]]


@dataclass(frozen=True)
class OutsideRequest:
    """A record Zendesk returned for a request whose created_at range does not hold it."""

    record: Any
    start: str
    end: str

    @property
    def reason(self) -> str:
        created_at = self.record.get("created_at") if isinstance(self.record, dict) else None
        return f"created_at {str(created_at)[:40]!r} is outside the range asked for ({self.start} to {self.end})"


def plan_windows(
    client: ZendeskClient, params: Params, start: datetime, end: datetime, window_records: int
) -> Iterator[Window]:
    """Windows covering [start, end], oldest first, each holding about `window_records` or fewer.

    `count` is only a hint: the windows' counts must add up to about the whole range's. Once they
    add up to more than twice that (a server answering 10^12 for every range), counts are no longer
    asked: the rest is fetched as it is, in the windows already cut, so planning costs a bounded
    number of requests whatever `count` says.
    """
    pending = [(start, end)]
    whole: int | None = None
    counted = 0
    while pending:
        low, high = pending.pop()
        trusted = whole is None or counted <= 2 * whole + window_records
        count = client.count_audit_logs(params(low - SECOND, high + SECOND)) if trusted else None
        if whole is None:
            whole = count if count is not None else 0
        if count == 0:
            continue
        span = high - low
        if count is None or count <= window_records or span <= 2 * SECOND:
            counted += count or 0
            yield Window(low, high, count, last=high == end)
            continue
        middle = low + timedelta(seconds=span.total_seconds() // 2)
        pending.append((middle, high))
        pending.append((low, middle))


def fetch_window(client: ZendeskClient, params: Params, window: Window) -> list[Any]:
    """Every record of one window, cut to its bounds (see the module's note on bounds)."""
    records: list[Any] = []
    low, high = window.start.strftime(TIME_FORMAT), window.end.strftime(TIME_FORMAT)
    asked = Window(window.start - SECOND, window.end + SECOND, None, last=True)
    asked_low, asked_high = asked.start.strftime(TIME_FORMAT), asked.end.strftime(TIME_FORMAT)
    for page in client.iter_audit_log_pages(params(asked.start, asked.end)):
        for record in page:
            if _inside(record, window, low, high):
                records.append(record)
            elif not _inside(record, asked, asked_low, asked_high):
                records.append(OutsideRequest(record, asked_low, asked_high))
    return records


def _inside(record: Any, window: Window, low: str, high: str) -> bool:
    """Cut on the record's own created_at; a record without a readable one belongs to the window that saw it.

    Zendesk's own form (`2023-01-01T05:01:05Z`) sorts as text, which is compared as is; others are parsed.
    """
    try:
        text = record["created_at"]
        if isinstance(text, str) and len(text) == 20 and text[10] == "T" and text[19] == "Z":
            return low <= text and (text <= high if window.last else text < high)
        created_at = parse_utc(text)
    except (TypeError, ValueError, KeyError, OverflowError):  # OverflowError: year 1 or 9999 with an offset
        return True
    return window.start <= created_at and (created_at <= window.end if window.last else created_at < window.end)


def fetch_windows(
    client: ZendeskClient,
    params: Params,
    start: datetime,
    end: datetime,
    *,
    workers: int | None,
    window_records: int,
    max_records: int | None,
    max_seconds: float | None = None,
) -> tuple[Iterator[list[Any]], Callable[[], bool]]:
    """Each window's records in time order, `workers` windows at a time, until about `max_records` were planned
    or `max_seconds` passed, whichever comes first.

    `workers=None` sizes the pool from what the first answers showed (`ZendeskClient.auto_workers`).

    Returns the windows and a function that says, once they are consumed, whether the range has
    more (the chunk stopped early): a load then commits and runs the next chunk from the cursor.
    """
    plan = plan_windows(client, params, start, end, window_records)
    state = {"more": False}

    def run() -> Iterator[list[Any]]:
        planned = 0
        deadline = time.monotonic() + max_seconds if max_seconds else None
        in_flight: deque[Future[list[Any]]] = deque()
        first = next(plan, None)  # the first count probe also measures latency and the budget
        size = workers or client.auto_workers()
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="zendesk-window")
        try:
            while True:
                while (
                    len(in_flight) < size
                    and (max_records is None or planned < max_records)
                    and (deadline is None or time.monotonic() < deadline or planned == 0)
                ):
                    window, first = (first, None) if first is not None else (next(plan, None), None)
                    if window is None:
                        break
                    planned += window.count or window_records
                    in_flight.append(pool.submit(fetch_window, client, params, window))
                if not in_flight:
                    break
                yield in_flight.popleft().result()
            state["more"] = next(plan, None) is not None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    return run(), lambda: state["more"]
