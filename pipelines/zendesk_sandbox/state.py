"""Everything one running sandbox knows: records, credentials, faults, counters, exports."""
from __future__ import annotations

import math
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

from zendesk_sandbox import errors
from zendesk_sandbox.auth import Authenticator
from zendesk_sandbox.config import SandboxConfig
from zendesk_sandbox.data import RecordStore
from zendesk_sandbox.faults import FaultPlan

EXPORT_WINDOW_SECONDS = 60.0


class Counters:
    """What tests read back: requests by path, 429s, faults, records served. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._numbers = Counter({"requests_total": 0, "rate_limited": 0, "records_served": 0,
                                     "list_requests": 0, "appended": 0, "appended_late": 0,
                                     "exports": 0})
            self._first_list_at: float | None = None
            self._last_list_at: float | None = None

    def add_request(self, path: str, is_list: bool) -> None:
        with self._lock:
            self._requests[path] += 1
            self._numbers["requests_total"] += 1
            if is_list:
                self._numbers["list_requests"] += 1
                now = time.monotonic()
                self._first_list_at = self._first_list_at or now
                self._last_list_at = now

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._numbers[name] += amount

    def add_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            # Seconds from the first list request to the last: rates over the fetching, not the process.
            span = (self._last_list_at - self._first_list_at) if self._first_list_at and self._last_list_at else 0.0
            return {"requests": dict(self._requests), "faults": dict(self._faults),
                    **dict(self._numbers), "list_span_seconds": round(span, 3)}


class SandboxState:
    """Shared by every request thread and the Python handle."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = RecordStore(config)
        self.auth = Authenticator(config)
        self.faults = FaultPlan(latency_ms=config.latency_ms, rate_limit=config.rate_limit,
                                rate_window=config.rate_window, fault_rate=config.fault_rate,
                                fault_seed=config.fault_seed, fault_kinds=config.fault_kinds)
        self.counters = Counters()
        self._export_lock = threading.Lock()
        self._last_export: float | None = None

    def counters_snapshot(self) -> dict[str, Any]:
        """The counters, plus `rate_windows`: requests and 429s per limit window."""
        return {**self.counters.snapshot(), "rate_windows": self.faults.rate_windows()}

    def reset_counters(self) -> None:
        self.counters.reset()
        self.faults.forget_windows()

    def append(self, count: int = 1, *, created_at: datetime | None = None, late: bool = False,
               fields: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Add records visible from now on (`late` only labels them for the counters)."""
        added = self.store.append(count, created_at=created_at, fields=fields)
        self.counters.add("appended_late" if late else "appended", len(added))
        return added

    def append_raw(self, raw: str | bytes, *, created_at: datetime | None = None) -> dict[str, Any]:
        """Add one record served exactly as the JSON text `raw` (see `RecordStore.append_raw`)."""
        added = self.store.append_raw(raw, created_at=created_at)
        self.counters.add("appended")
        return added

    def start_export(self) -> None:
        """Accept one export per minute, as Zendesk does.

        Raises:
            ApiError: 429 with the export rate-limit header inside the minute.
        """
        with self._export_lock:
            now = time.monotonic()
            if self._last_export is not None and now - self._last_export < EXPORT_WINDOW_SECONDS:
                resets = math.ceil(EXPORT_WINDOW_SECONDS - (now - self._last_export))
                raise errors.export_limited(max(1, resets))
            self._last_export = now
        self.counters.add("exports")
