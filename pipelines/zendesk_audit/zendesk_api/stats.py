"""What a run cost in requests, retries, waits and pages: read by the progress line and the summary."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    """What the run cost; read by the progress line and the summary."""

    requests: int = 0
    list_requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    waited_seconds: float = 0.0
    pages: int = 0
    records: int = 0
    # Copies of a record Zendesk sent more than once, left out (see source.audit_logs_resource);
    # of those, the ones staged in a load package for the merge to drop.
    duplicates: int = 0
    duplicates_in_package: int = 0
    # Records set aside into audit_logs_rejected, and their raw JSON's characters (bounded per run).
    rejected: int = 0
    rejected_bytes: int = 0
    on_change: Callable[[RequestStats], None] | None = field(default=None, repr=False, compare=False)
    # Warnings given in this run: a load builds a source per chunk and must say each only once.
    warned: set[str] = field(default_factory=set, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        """Add to counters; workers fetch windows in threads, so updates take a lock."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def first_warning(self, key: str) -> bool:
        """True the first time this run meets `key`: the caller warns then, and not again."""
        with self._lock:
            if key in self.warned:
                return False
            self.warned.add(key)
            return True

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)
