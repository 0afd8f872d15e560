"""Whether a page of the audit-log list moved the reading forward: the progress guard's measure.

A server that answers `has_more: true` forever, with empty pages or with the same records under a
new cursor each time, would keep a load running (and holding the write lock) for as long as it
is allowed. Pages come oldest first, so reading moves forward when a page holds a later
`created_at` than any seen, or a new id in the newest second seen (same-second bursts span pages).
"""
from __future__ import annotations

from typing import Any

from zendesk_audit.settings import TIME_FORMAT
from zendesk_audit.times import parse_utc


def _moment(record: Any) -> str | None:
    """The record's created_at as Zendesk writes it (sortable text), None when unreadable."""
    created_at = record.get("created_at") if isinstance(record, dict) else None
    if isinstance(created_at, str) and len(created_at) == 20 and created_at[10] == "T" and created_at[19] == "Z":
        return created_at
    try:
        return parse_utc(created_at).strftime(TIME_FORMAT)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None


class PageProgress:
    """The newest second read so far and the ids read in it (memory: one second's burst)."""

    def __init__(self) -> None:
        self.newest: str | None = None
        self._ids: set[Any] = set()

    def advanced(self, records: list[Any]) -> bool:
        """Whether `records` hold a later created_at, or a new id in the newest second."""
        moved = False
        for record in records:
            moment = _moment(record)
            if moment is None or (self.newest is not None and moment < self.newest):
                continue
            record_id = record.get("id")
            if not isinstance(record_id, (int, str)):
                continue
            if self.newest is None or moment > self.newest:
                self.newest, self._ids, moved = moment, {record_id}, True
            elif record_id not in self._ids:
                self._ids.add(record_id)
                moved = True
        return moved
