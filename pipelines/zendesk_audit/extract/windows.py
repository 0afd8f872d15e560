"""A long range fetched by several workers at once, in time windows planned from what the pages show.

Zendesk documents no `count` for the audit-log list, so the plan does not depend on it. The range
starts as one window; its first page shows how dense the records are, and from then on:

- a window that turns out to hold far more than `window_records` (its own pages say so) keeps
  about that many and hands the unfetched rest back: to the range's unplanned rest when it is the
  newest window, else as a gap that idle workers take before anything newer;
- an idle worker takes the oldest gap, else carves from the unplanned rest a window sized to hold
  about `window_records` at the density seen so far;
- when nothing is left to carve (the chunk is full, or the whole range is planned) and fewer
  workers are busy than the rate-limit budget needs, an idle worker steals the second half of the
  unfetched rest of the window with the most left (work stealing), so that the end of a chunk is
  not fetched by one worker while the budget goes unused.

So the only requests that carry no records are the last pages of windows, about one per
`window_records`. When an offset page answers `count` (Zendesk does not promise it), an empty range
ends after that one request; nothing else uses it, so an absent or absurd count changes nothing.

Bounds. Windows are half-open ranges of whole seconds, the last one ending one second after the
settled end. Zendesk does not say whether its `filter[created_at][]` bounds are inclusive, so each
request asks one second more on both sides and records are cut to their window on their own
`created_at`: no second is lost between two windows, none is kept twice. A window whose end moved
(handed back or stolen) goes on with a request bounded by its new end; that request starts at the
second of the last record seen, which is dropped from the page that showed it and read again, so
a second is never split between two requests. A record outside the whole range a request asked
for (a `created_at` of 0001, 1970 or 9999 in a 2026 window) is a broken answer: it is kept as
`OutsideRequest`, so that it is rejected with its reason, never dropped unseen, and it never moves
a window's position.

Chunks. The windows of one chunk together cover a range from its start, with no hole: a load
commits its cursor (the newest record) after each chunk, so nothing newer than a hole may reach it.
Once the chunk has `max_records` planned or `max_seconds` passed, no window is carved any more;
the newest window then stops at the next page it reads (its rest goes back to the unplanned range)
and the others are finished, with idle workers stealing from them. The load then commits and asks
`more()` whether to run another chunk from the new cursor.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dlt.common.runtime import signals
from dlt.common.runtime.signals import SignalReceivedException

from zendesk_audit.errors import ApiError, ZendeskAuditError
from zendesk_audit.settings import PAGE_SIZE, TIME_FORMAT
from zendesk_audit.text_safety import terminal_text
from zendesk_audit.times import parse_utc
from zendesk_audit.zendesk_api.client import ZendeskClient

Params = Callable[[datetime, datetime], dict[str, Any]]
# A window is stolen from only when it has at least this many records left, the thief taking half
# (at least 5 pages for the one partial page a new window costs).
MIN_STEAL_RECORDS = 10 * PAGE_SIZE
# A window hands its rest back once it looks to hold this many times `window_records` more: a window
# up to that much bigger than planned is cheaper fetched whole (each cut is a partial page more).
DENSE_FACTOR = 3
# Batches waiting for the load at most (each worker holds its own batch besides, until it is queued).
QUEUED_BATCHES = 2


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


@dataclass(eq=False)
class Window:
    """Seconds [start, end) of the range. `end` moves down when the rest is handed back or stolen."""

    start: int
    end: int
    floor: int  # records older than this second are not this window's: its start, then where its request resumed
    request_end: int = 0  # the end its current request asks up to
    seen: int | None = None  # second of the newest record read, kept or not: where the worker is
    kept_until: int | None = None  # second of the newest record kept
    records: int = 0
    data_start: int | None = None  # where its records' time span starts, for the density
    done: bool = False  # its last page is read: nothing left to steal, though its worker still holds it


class WindowPlan:
    """Which seconds are planned, fetched or handed back; the density seen so far. Not thread-safe: the caller locks."""

    def __init__(self, start: int, stop: int, window_records: int) -> None:
        self.start, self.stop = start, stop
        self.window_records = window_records
        self.frontier = start  # [frontier, stop) is not planned yet
        self.gaps: list[tuple[int, int]] = []  # handed back below the frontier, oldest first
        self.active: list[Window] = []
        self.fetched = 0  # records kept
        self.windows = 0  # windows made
        self._done_records = 0
        self._done_seconds = 0

    # -- what the pages showed ----------------------------------------------------------------

    def density(self) -> float | None:
        """Records per second over everything read so far (from the first record: the empty years before it do not count)."""
        records, seconds = self._done_records, self._done_seconds
        for window in self.active:
            records += window.records
            seconds += _covered(window, window.seen + 1 if window.seen is not None else None)
        return records / seconds if seconds > 0 else None

    def _window_density(self, window: Window, overall: float | None = None) -> float | None:
        """The window's own density, steadied by the overall one as if that were worth half a window of records.

        Audit logs follow office hours: a window's first pages often fall in a busy morning, several
        times denser than the window on average. With half a window of weight on the overall density, a
        window is found dense only after it has read about a window's worth of records at several times
        the planned rate, not on its first page (the range's first window, alone, is its own prior).
        """
        overall = overall if overall is not None else self.density()
        seconds = _covered(window, window.seen + 1 if window.seen is not None else None)
        if overall:
            prior = self.window_records / 2
            return (window.records + prior) / (seconds + prior / overall)
        return window.records / seconds if seconds > 0 and window.records else None

    def remaining(self, window: Window, overall: float | None = None) -> float:
        """About how many records the window has left to read (`overall`: the density, when known)."""
        overall = overall if overall is not None else self.density()
        if window.done:
            return 0.0
        if window.seen is None:
            return overall * (window.end - window.start) if overall is not None else float(self.window_records)
        density = self._window_density(window, overall)
        return density * (window.end - window.seen - 1) if density is not None else 0.0

    def planned(self) -> float:
        """Records kept plus those the active windows are expected to bring."""
        overall = self.density()
        return self.fetched + sum(self.remaining(window, overall) for window in self.active)

    def newest(self, window: Window) -> bool:
        """Whether nothing newer is planned: the window's rest can go back to the unplanned range."""
        return window.end == self.frontier

    # -- handing out windows ------------------------------------------------------------------

    def take(self, carve: bool, steal: bool) -> Window | None:
        """The next window for an idle worker: the oldest gap, else (`carve`) a new one from the
        unplanned rest, else (`steal`) the second half of the busiest window's rest; None: nothing now."""
        if self.gaps:
            low, high = self.gaps[0]
            end = self._carve_end(low, high)
            if end == high:
                self.gaps.pop(0)
            else:
                self.gaps[0] = (end, high)
            return self._open(low, end)
        if carve and self.frontier < self.stop:
            low = self.frontier
            self.frontier = self._carve_end(low, self.stop)
            return self._open(low, self.frontier)
        if steal:
            return self._steal(newest_too=carve)
        return None

    def _carve_end(self, low: int, high: int) -> int:
        """Where a window from `low` should end to hold about `window_records` (no short tail left over)."""
        density = self.density()
        if not density:
            return high
        span = max(1, math.ceil(self.window_records / density))
        return high if low + 1.5 * span >= high else low + span

    def _open(self, start: int, end: int) -> Window:
        window = Window(start, end, floor=start, request_end=end)
        if start != self.start:
            window.data_start = start  # the range's first window starts its span at its first record
        self.active.append(window)
        self.windows += 1
        return window

    def _steal(self, newest_too: bool) -> Window | None:
        """Half of the rest of the window with the most left. Once the chunk carves no more, not the
        newest window's: it ends at its next page, its rest going to the next chunk."""
        candidates = [w for w in self.active if not w.done and w.seen is not None and w.end - w.seen >= 3
                      and (newest_too or not self.newest(w))]
        if not candidates:
            return None
        overall = self.density()
        victim = max(candidates, key=lambda window: self.remaining(window, overall))
        if self.remaining(victim, overall) < MIN_STEAL_RECORDS:
            return None
        assert victim.seen is not None
        middle = victim.seen + 1 + (victim.end - victim.seen - 1) // 2
        thief = self._open(middle, victim.end)
        victim.end = middle  # the victim reads it at its next page and cuts there
        return thief

    def give_back(self, low: int, high: int) -> None:
        """Return [low, high) to be planned again: to the unplanned rest if it touches it, else as a gap."""
        if high == self.frontier:
            self.frontier = low
            while self.gaps and self.gaps[-1][1] == self.frontier:
                self.frontier = self.gaps.pop()[0]
        else:
            self.gaps.append((low, high))
            self.gaps.sort()

    # -- reading pages ------------------------------------------------------------------------

    def on_page(self, window: Window, records: list[Any], has_more: bool, stop_now: bool) -> tuple[list[Any], bool, bool]:
        """Cut one page to the window and decide what follows: (records kept, window finished, new request).

        `stop_now`: the chunk is over; the newest window ends at this page.
        """
        records, outside = _split_outside(records, window.floor - 1, window.request_end + 1)
        newest_second = _second(records[-1]) if records else None
        last = math.floor(newest_second) if newest_second is not None else None
        # A window may end, or resume in a new request, only at a second none of its records was kept from.
        fresh = last is not None and last > window.floor and (window.kept_until is None or last > window.kept_until)
        kept = _cut(records, window.floor, window.end, window.end == self.stop)
        kept_before = window.kept_until
        self._count(window, kept, last)  # first, so that the decisions below see this page's density
        finished = not has_more or (last is not None and last >= window.end)
        resume = ended_here = False
        if not finished and last is not None:
            if stop_now and fresh and self.newest(window):
                self.give_back(last, window.end)
                window.end = last
                finished = ended_here = True
            elif not (stop_now and self.newest(window)):
                self._hand_back_if_dense(window, last)
            resume = not finished and fresh and window.end < window.request_end
        if ended_here or resume:
            assert last is not None
            # That second is read again: by this window's next request, or by the next chunk.
            dropped = _drop_from(kept, last)
            window.records -= dropped
            self.fetched -= dropped
            newest_kept = _second(kept[-1]) if kept else None
            window.kept_until = math.floor(newest_kept) if newest_kept is not None else kept_before
            window.seen = last - 1  # where the worker is now: before that second
        if resume:
            assert last is not None
            window.floor = last
        window.done = finished
        return kept + outside if outside else kept, finished, resume

    def _count(self, window: Window, kept: list[Any], last: int | None) -> None:
        if kept:
            kept_second = _second(kept[-1])
            if kept_second is not None:
                window.kept_until = max(window.kept_until or 0, math.floor(kept_second))
                if window.data_start is None:
                    oldest = _second(kept[0])
                    window.data_start = math.floor(oldest if oldest is not None else kept_second)
        if last is not None:
            window.seen = max(window.seen if window.seen is not None else last, last)
        window.records += len(kept)
        self.fetched += len(kept)

    def _hand_back_if_dense(self, window: Window, last: int) -> None:
        """Far denser than planned (`DENSE_FACTOR`): keep about `window_records` more, hand the rest back."""
        density = self._window_density(window)
        if not density or density * (window.end - last) <= DENSE_FACTOR * self.window_records:
            return
        keep = max(self.window_records - window.records, self.window_records // 2)
        end = last + max(1, math.ceil(keep / density))
        if end < window.end:
            self.give_back(end, window.end)
            window.end = end

    def finish(self, window: Window) -> None:
        self.active.remove(window)
        self._done_records += window.records
        self._done_seconds += _covered(window, window.end)

    def chunk_done(self, carve: bool) -> bool:
        """Nothing active, no gap, and nothing more to carve in this chunk."""
        return not self.active and not self.gaps and (not carve or self.frontier >= self.stop)


def worker_error(exc: BaseException) -> BaseException:
    """What a worker's failure becomes in the load's thread: the user's errors and the run's
    signals as they are; anything else (a bug, an answer nobody foresaw) as one line naming it,
    never a traceback from a thread."""
    if isinstance(exc, (ZendeskAuditError, SignalReceivedException, KeyboardInterrupt, SystemExit)):
        return exc
    return ApiError(
        f"a window worker failed on Zendesk's answers ({type(exc).__name__}: {terminal_text(str(exc))[:200]}): "
        "nothing partial was committed; try again, and report it if it repeats"
    )


def _covered(window: Window, until: int | None) -> int:
    if until is None or window.data_start is None:
        return 0
    return max(0, until - window.data_start)


def _second(record: Any) -> float | None:
    """A record's created_at in seconds since the epoch; None when it has no readable one."""
    try:
        return parse_utc(record["created_at"]).timestamp()
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        return None


def _split_outside(records: list[Any], low: int, high: int) -> tuple[list[Any], list[Any]]:
    """(records inside seconds [low, high), the others as `OutsideRequest`): [low, high) is what the
    request asked for, so a record outside it is a broken answer, not a neighbour's record."""
    low_text, high_text = _text(low), _text(high)
    outside: list[Any] = []
    for record in records:
        try:
            text = record["created_at"]
            if isinstance(text, str) and len(text) == 20 and text[10] == "T" and text[19] == "Z":
                if low_text <= text < high_text:
                    continue
            elif low <= parse_utc(text).timestamp() < high:
                continue
        except (TypeError, ValueError, KeyError, OverflowError):
            continue  # no readable created_at: the window that saw it keeps it (and the source rejects it)
        outside.append(record)
    if not outside:
        return records, outside
    strays = {id(record) for record in outside}
    return ([record for record in records if id(record) not in strays],
            [OutsideRequest(record, low_text, _text(high - 1)) for record in outside])


def _cut(records: list[Any], floor: int, end: int, inclusive_last: bool) -> list[Any]:
    """The records from second `floor` to before `end` (through `end - 1` for the range's last window).

    Zendesk's own form (`2023-01-01T05:01:05Z`) sorts as text and is compared as is; others are
    parsed. A record without a readable created_at belongs to the window that saw it.
    """
    low, high = _text(floor), _text(end)
    kept = []
    for record in records:
        try:
            text = record["created_at"]
            if isinstance(text, str) and len(text) == 20 and text[10] == "T" and text[19] == "Z":
                inside = low <= text < high
            else:
                second = parse_utc(text).timestamp()
                inside = floor <= second and (second <= end - 1 if inclusive_last else second < end)
        except (TypeError, ValueError, KeyError):
            inside = True
        if inside:
            kept.append(record)
    return kept


def _drop_from(kept: list[Any], second: int) -> int:
    """Remove, from the end of `kept` (oldest first), the records of `second` or later; how many went."""
    dropped = 0
    while kept:
        record_second = _second(kept[-1])
        if record_second is None or record_second < second:
            break
        kept.pop()
        dropped += 1
    return dropped


def _text(second: int) -> str:
    return time.strftime(TIME_FORMAT, time.gmtime(second))


def _utc(second: int) -> datetime:
    return datetime.fromtimestamp(second, timezone.utc)


class _WindowFetch:
    """Worker threads over one `WindowPlan`, and the batches they hand to the load, in one condition."""

    def __init__(
        self,
        client: ZendeskClient,
        params: Params,
        start: datetime,
        end: datetime,
        workers: int | None,
        window_records: int,
        max_records: int | None,
        max_seconds: float | None,
    ) -> None:
        self.client, self.params = client, params
        self.workers = workers
        self.max_records, self.max_seconds = max_records, max_seconds
        self.plan = WindowPlan(math.floor(start.timestamp()), math.floor(end.timestamp()) + 1, window_records)
        self.condition = threading.Condition()
        self.batches: deque[list[Any]] = deque()
        self.threads: list[threading.Thread] = []
        self.busy = 0
        self.carving = True
        self.finished = False
        self.closing = False
        self.error: BaseException | None = None
        self.deadline: float | None = None

    # -- the load's side ----------------------------------------------------------------------

    def run(self) -> Iterator[list[Any]]:
        """Batches of records as workers finish them (in no particular order: a chunk commits as a whole)."""
        self.deadline = time.monotonic() + self.max_seconds if self.max_seconds else None
        plan = self.plan
        if self.client.count_audit_logs(self.params(_utc(plan.start - 1), _utc(plan.stop))) == 0:
            plan.frontier = plan.stop
            return
        self._start_thread()
        try:
            while True:
                with self.condition:
                    while not self.batches and not self.finished and self.error is None:
                        self.condition.wait(timeout=1.0)
                        signals.raise_if_signalled()
                        if not self.finished and self.error is None and not any(t.is_alive() for t in self.threads):
                            # Never wait for workers that are gone (each one hands over what stopped it).
                            self.error = ApiError("every window worker stopped before the chunk was fetched: "
                                                  "nothing partial was committed; try again")
                    if self.error is not None:
                        raise self.error
                    if not self.batches:
                        return
                    batch = self.batches.popleft()
                    self.condition.notify_all()
                yield batch
        finally:
            with self.condition:
                self.closing = True
                self.condition.notify_all()

    def more(self) -> bool:
        """Whether the range goes on past what this chunk fetched (ask once its windows are consumed)."""
        return self.plan.frontier < self.plan.stop

    # -- the workers' side --------------------------------------------------------------------

    def _target(self, headroom: float = 1.5) -> int:
        return self.workers or self.client.auto_workers(headroom=headroom)

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._work, name=f"zendesk-window-{len(self.threads)}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _chunk_full(self) -> bool:
        """No more windows carved in this chunk (the first one always is)."""
        plan = self.plan
        if self.carving and plan.windows and (
            (self.deadline is not None and time.monotonic() >= self.deadline)
            or (self.max_records is not None and plan.planned() >= self.max_records)
        ):
            self.carving = False
        return not self.carving

    def _stop_now(self) -> bool:
        """The chunk is over: its newest window ends at the next page it reads."""
        return (self.deadline is not None and time.monotonic() >= self.deadline) or (
            self.max_records is not None and self.plan.fetched >= self.max_records
        )

    def _next_window(self) -> Window | None:
        """Block until there is a window for this worker; None when the chunk is done or closing."""
        plan = self.plan
        with self.condition:
            while True:
                if self.closing or self.error is not None or self.finished:
                    return None
                if self.busy < self._target():
                    steal = self.busy < self._target(headroom=1.0)
                    window = plan.take(carve=not self._chunk_full(), steal=steal)
                    if window is not None:
                        self.busy += 1
                        return window
                if self.busy == 0 and plan.chunk_done(carve=not self._chunk_full()):
                    self.finished = True
                    self.condition.notify_all()
                    return None
                self.condition.wait(timeout=1.0)

    def _work(self) -> None:
        """One worker: windows until none is left. Whatever it raises, anywhere (planning a
        window included), is handed to the load's thread, which raises it: a worker never dies
        silently, leaving the load waiting for a window nobody fetches."""
        try:
            while True:
                window = self._next_window()
                if window is None:
                    return
                self._fetch(window)
                with self.condition:
                    self.busy -= 1
                    self.plan.finish(window)
                    self.condition.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the load's thread, which raises it
            with self.condition:
                self.error = self.error or worker_error(exc)
                self.condition.notify_all()

    def _fetch(self, window: Window) -> None:
        batch: list[Any] = []
        while True:
            with self.condition:
                floor, window.request_end = window.floor, window.end
            answers = self.client.iter_audit_log_answers(self.params(_utc(floor - 1), _utc(window.request_end)))
            for records, has_more in answers:
                with self.condition:
                    if self.closing or self.error is not None:
                        return
                    kept, finished, resume = self.plan.on_page(window, records, has_more, self._stop_now())
                    while len(self.threads) < self._target():
                        self._start_thread()
                    self.condition.notify_all()
                batch.extend(kept)
                if finished or len(batch) >= self._batch_records():
                    self._hand_over(batch)
                    batch = []
                if finished:
                    return
                if resume:
                    answers.close()
                    break

    def _batch_records(self) -> int:
        """A window's worth of records per batch, less when many workers each hold one (they fill slowly then)."""
        window_records = self.plan.window_records
        return min(window_records, max(10 * PAGE_SIZE, window_records * 8 // max(1, len(self.threads))))

    def _hand_over(self, batch: list[Any]) -> None:
        """Queue a batch for the load, waiting while two are queued: the load turns one batch into an
        Arrow table while the next waits, and more would only hold more records as Python objects
        (several times their Arrow size): memory stays bounded, whatever the number of workers."""
        if not batch:
            return
        with self.condition:
            while len(self.batches) >= QUEUED_BATCHES and not self.closing and self.error is None:
                self.condition.wait(timeout=1.0)
            self.batches.append(batch)
            self.condition.notify_all()


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
    """Every record of [start, end] (end inclusive), fetched by `workers` at once, until about
    `max_records` were planned or `max_seconds` passed, whichever comes first.

    `workers=None` sizes the pool from what the answers show (`ZendeskClient.auto_workers`), as it goes.

    Returns batches of records, in no particular order but together covering the range from
    `start` without a hole, and a function that says, once they are consumed, whether the range
    has more (the chunk stopped early): a load then commits and runs the next chunk from the cursor.
    """
    fetch = _WindowFetch(client, params, start, end, workers, window_records, max_records, max_seconds)
    return fetch.run(), fetch.more
