"""Pacing requests on Zendesk's rate-limit headers, shared by every window worker of one account.

Zendesk's limit is per account and shared with every other integration, so a load keeps to its
share (`rate_limit_share`) of what the headers report, spreads its requests evenly over the
window, holds every worker on a 429, and refuses a wait longer than `max_wait_seconds` rather than
hang. The same numbers size the worker pool (`auto_workers`).
"""
from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from dlt.common.runtime import signals

from zendesk_audit.errors import WaitTooLong
from zendesk_audit.settings import MAX_WORKERS
from zendesk_audit.zendesk_api.numbers import bounded_number, header_number
from zendesk_audit.zendesk_api.stats import RequestStats

FAST_ANSWER_SECONDS = 0.05


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; Zendesk has sent non-integers, so accept any number.

    Unreadable, NaN or negative values give None (back off as for an edge 429); `inf` and huge
    values come back as `NUMBER_CEILING`, finite, for the caller to refuse against its longest wait.
    """
    return bounded_number(value)


class Pacer:
    """When the next request of any worker may leave, from what Zendesk's headers say."""

    def __init__(self, stats: RequestStats, rate_limit_share: float, max_wait_seconds: float,
                 backoff_base: float, backoff_max: float) -> None:
        self.stats = stats
        self.rate_limit_share = rate_limit_share
        self.max_wait_seconds = max_wait_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._lock = threading.Lock()
        self._next_slot = 0.0  # when the next request may go: requests leave `_gap` seconds apart
        self._gap = 0.0
        self._hold_until = 0.0  # no request from any worker before this (a 429, or the budget spent)
        self._in_flight = 0  # requests sent and not yet answered, by every worker
        self._window_seconds = 0.0  # the longest `ratelimit-reset` seen: the limit's window
        # What sizing the worker pool needs: seconds per answer (smoothed), our requests per second.
        self.latency_seconds = 0.0
        self.budget_per_second: float | None = None

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request as spent while it is on its way (the next answer does not count it yet)."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def note_latency(self, seconds: float) -> None:
        self.latency_seconds = seconds if not self.latency_seconds else 0.8 * self.latency_seconds + 0.2 * seconds

    def note_rate_limit(self, headers: Mapping[str, str]) -> None:
        """Keep to our share of the account's budget, spread evenly over the window.

        Requests leave `reset / usable` seconds apart, where `usable` is what remains above the
        reserve left to other integrations, less the requests already on their way and one of
        slack; once nothing is usable every worker waits for the window to reset. Pacing on what
        Zendesk reports, rather than on a fixed rate, also adapts to what the other integrations
        are using right now.
        """
        remaining = header_number(headers, "X-Rate-Limit-Remaining", "ratelimit-remaining")
        limit = header_number(headers, "X-Rate-Limit", "ratelimit-limit")
        if remaining is None or not limit:
            return
        reset = header_number(headers, "ratelimit-reset")
        # At least a second: a window "ending in 1e-300 s" must not make the budget infinite.
        window_left = max(1.0, reset) if reset is not None and reset > 0 else 60.0
        with self._lock:
            self._window_seconds = max(self._window_seconds, window_left)
            # One request of slack: answers from concurrent workers arrive out of order.
            usable = remaining - (1.0 - self.rate_limit_share) * limit - self._in_flight - 1
            wait = window_left if usable < 1 else window_left / usable
            if not wait <= self.max_wait_seconds:  # also inf and NaN
                raise WaitTooLong("ratelimit-reset", wait, self.max_wait_seconds)
            if usable < 1:
                self._hold_until = max(self._hold_until, time.monotonic() + window_left)
            else:
                self._gap = window_left / usable
            self.budget_per_second = self.rate_limit_share * limit / self._window_seconds

    def retry_after(self, header: str | None, path: str) -> float | None:
        """A 429's Retry-After in seconds (None: back off), refused beyond `max_wait_seconds`."""
        delay = parse_retry_after(header)
        if delay is not None and delay > self.max_wait_seconds:
            raise WaitTooLong("Retry-After", delay, self.max_wait_seconds, path)
        return delay

    def auto_workers(self, headroom: float = 1.5, ceiling: int = MAX_WORKERS) -> int:
        """Enough requests in flight to use the budget despite latency: budget/s x seconds per answer x headroom.

        The headroom lets the load catch up after a pause (a chunk's commit) within the same
        window; `headroom=1` is what the budget needs, no more. 2,500 requests a minute at 400 ms
        need 17 in flight (25 with the headroom), under `MAX_WORKERS`. Answers that come back in
        under 50 ms (the sandbox, a proxy next door) leave the decoding core as the limit, where
        more workers only hold more records in memory: two per core then.
        """
        if self.budget_per_second is None:
            return min(4, ceiling)
        if self.latency_seconds < FAST_ANSWER_SECONDS:
            ceiling = min(ceiling, 2 * (os.cpu_count() or 1))
        wanted = math.ceil(self.budget_per_second * max(self.latency_seconds, 0.001) * headroom)
        return max(1, min(ceiling, wanted))

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def hold_all(self, seconds: float) -> None:
        """No request from any worker before `seconds` from now (a 429 holds everyone)."""
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once on SIGTERM/SIGINT (when the run intercepts them) and stop."""
        if seconds > 0:
            self.stats.add(waited_seconds=seconds)
            self.stats.changed()
            signals.sleep(seconds)
        signals.raise_if_signalled()

    def pace(self) -> None:
        """Take the next slot (`_gap` after the previous one) and wait for it, and for any hold."""
        slot: float | None = None
        waited = False
        while True:
            with self._lock:
                now = time.monotonic()
                if slot is None:
                    slot = max(now, self._next_slot, self._hold_until)
                    self._next_slot = slot + self._gap
                delay = max(slot, self._hold_until) - now  # a hold that came while waiting still counts
            if delay <= 0.001:
                return
            if not waited:
                self.stats.add(rate_limit_waits=1)
                waited = True
            self.wait(delay)
