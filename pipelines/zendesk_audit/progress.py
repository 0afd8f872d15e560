"""A one-line live progress display for terminals: pages, records, retries, rate-limit waits."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from zendesk_audit.client import RequestStats


class ProgressLine:
    """Redraws one status line on stderr at most a few times a second."""

    def __init__(self, stream: TextIO = sys.stderr, interval: float = 0.2) -> None:
        self.stream, self.interval, self._last = stream, interval, 0.0
        self._drawn = False

    def update(self, stats: RequestStats) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(
            f"\rpages {stats.pages:,} · records {stats.records:,} · requests {stats.requests:,} · "
            f"retries {stats.retries:,} · rate-limit waits {stats.rate_limit_waits:,} ({stats.waited_seconds:.0f} s)"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
