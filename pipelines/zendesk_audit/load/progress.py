"""Progress of a load, as a dlt collector: one live line on a terminal, or plain lines for logs.

dlt tells the collector when each step (extract, normalize, load) starts and stops; the client
reports pages, records, retries and rate-limit waits through `RequestStats.on_change`.
"""
from __future__ import annotations

import sys
import time
from typing import Literal, TextIO

from dlt.common.runtime.collector_base import Collector

from zendesk_audit.zendesk_api.stats import RequestStats

ProgressMode = Literal["line", "log"]


class LoadProgress(Collector):
    """`line`: redraw one status line; `log`: a line per step and every `log_every` seconds."""

    def __init__(self, mode: ProgressMode, stream: TextIO = sys.stderr, interval: float = 0.2, log_every: float = 10.0):
        self.mode, self.stream = mode, stream
        self.interval = interval if mode == "line" else log_every
        self.step = ""
        self._last = 0.0
        self._drawn = False

    def update(self, name: str, inc: int = 1, total: int | None = None, inc_total: int | None = None,
               message: str | None = None, label: str | None = None) -> None:
        """dlt's own row counters: not shown, ours say more about the API."""

    def _start(self, step: str) -> None:
        self.step = step.split()[0].lower() if step else ""
        if self.mode == "log":
            self._write(f"{self.step}: started\n")

    def _stop(self) -> None:
        if self.mode == "log":
            self._write(f"{self.step}: done\n")

    def on_stats(self, stats: RequestStats) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        text = (
            f"{self.step or 'extract'}: pages {stats.pages:,} · records {stats.records:,} · requests {stats.requests:,} · "
            f"retries {stats.retries:,} · rate-limit waits {stats.rate_limit_waits:,} ({stats.waited_seconds:.0f} s)"
        )
        if self.mode == "line":
            self._write(f"\r{text}")
            self._drawn = True
        else:
            self._write(f"{text}\n")

    def close(self) -> None:
        if self._drawn:
            self._write("\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
