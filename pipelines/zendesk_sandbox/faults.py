"""Injected trouble: latency, a fixed-window request limit, and seeded random faults.

A limit window starts with the first request after the previous one ended (the first with the
first request), and every window's requests are kept, so a benchmark can read how much of a real,
whole window a client used.
"""
from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from zendesk_sandbox.config import BAD_ANSWER_KINDS, DEFAULT_FAULT_KINDS

# Without a configured limit the headers advertise one no client reaches, so nobody paces for nothing.
DEFAULT_REPORTED_LIMIT = 1_000_000
FAULT_KINDS = frozenset(DEFAULT_FAULT_KINDS + BAD_ANSWER_KINDS)
UNSET = object()  # lets `rate_limit=None` mean "no limit" in set_faults


@dataclass
class Admission:
    """The limiter's verdict for one request, and the headers every answer carries."""

    allowed: bool
    headers: dict[str, str]
    retry_after: int


class FaultPlan:
    """Current fault settings plus the limiter's window. Thread-safe."""

    def __init__(self, *, latency_ms: float, rate_limit: int | None, rate_window: float,
                 fault_rate: float, fault_seed: int, fault_kinds: tuple[str, ...]) -> None:
        self._lock = threading.Lock()
        self.latency_ms = latency_ms
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.fault_rate = fault_rate
        self.fault_seed = fault_seed
        self.fault_kinds = _check_kinds(fault_kinds)
        self._window_start: float | None = None
        self._window_count = 0
        self._window_limited = 0
        self._windows: list[dict[str, int]] = []  # the ended windows: requests, rate_limited
        self._ordinal = 0

    def update(self, *, latency_ms: float | None = None, rate_limit: object = UNSET,
               rate_window: float | None = None, fault_rate: float | None = None,
               fault_seed: int | None = None,
               fault_kinds: tuple[str, ...] | list[str] | None = None) -> None:
        """Change settings while running; a new limit or window starts a fresh window."""
        with self._lock:
            if latency_ms is not None:
                self.latency_ms = float(latency_ms)
            if rate_limit is not UNSET:
                self.rate_limit = None if rate_limit is None else int(rate_limit)  # type: ignore[arg-type]
                self._end_window(None)
            if rate_window is not None:
                self.rate_window = float(rate_window)
                self._end_window(None)
            if fault_rate is not None:
                self.fault_rate = float(fault_rate)
            if fault_seed is not None:
                self.fault_seed = int(fault_seed)
                self._ordinal = 0
            if fault_kinds is not None:
                self.fault_kinds = _check_kinds(tuple(fault_kinds))

    def admit(self) -> Admission:
        """Count one API request in the current window and say whether it may proceed."""
        with self._lock:
            now = time.monotonic()
            if self._window_start is None or now >= self._window_start + self.rate_window:
                self._end_window(now)
            assert self._window_start is not None
            self._window_count += 1
            limit = self.rate_limit if self.rate_limit is not None else DEFAULT_REPORTED_LIMIT
            remaining = max(0, limit - self._window_count)
            resets = max(0.0, self._window_start + self.rate_window - now)
            allowed = self.rate_limit is None or self._window_count <= self.rate_limit
            if not allowed:
                self._window_limited += 1
        retry_after = max(1, math.ceil(resets))
        headers = {
            "X-Rate-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(math.ceil(resets)),
        }
        return Admission(allowed, headers, retry_after)

    def _end_window(self, new_start: float | None) -> None:
        """Close the current window (kept if it saw requests) and start the next at `new_start` (None: at the next request)."""
        if self._window_start is not None and self._window_count:
            self._windows.append({"requests": self._window_count, "rate_limited": self._window_limited})
        self._window_start, self._window_count, self._window_limited = new_start, 0, 0

    def rate_windows(self) -> list[dict[str, Any]]:
        """Requests and 429s per limit window, oldest first; the last one is still running (`ended` false)."""
        with self._lock:
            ended = [{**window, "ended": True} for window in self._windows]
            if self._window_start is not None and self._window_count:
                ended.append({"requests": self._window_count, "rate_limited": self._window_limited,
                              "ended": time.monotonic() >= self._window_start + self.rate_window})
            return ended

    def forget_windows(self) -> None:
        with self._lock:
            self._windows.clear()

    def draw_fault(self) -> str | None:
        """The fault for the next request, or None; deterministic from seed and ordinal."""
        with self._lock:
            if self.fault_rate <= 0 or not self.fault_kinds:
                return None
            self._ordinal += 1
            rng = random.Random(f"{self.fault_seed}:{self._ordinal}")
            if rng.random() >= self.fault_rate:
                return None
            return rng.choice(self.fault_kinds)


def _check_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    kinds = tuple(str(k) for k in kinds)
    unknown = set(kinds) - FAULT_KINDS
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(FAULT_KINDS)}")
    return kinds
