"""Valid API records to Arrow tables: dlt writes them straight to Parquet, with no per-row normalizing.

Records are gathered across pages into tables of `BATCH_RECORDS` rows, because dlt's cost per
item (incremental filtering, writing) is per table, not per row. Known fields get their declared
types; a field Zendesk adds later is kept as text (JSON for a non-string value), so a new field can
never clash with itself from one batch to the next.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

BATCH_RECORDS = 10_000

_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "subdomain": pa.string(),
    "created_at": pa.timestamp("us", tz="UTC"),
    "action": pa.string(),
    "action_label": pa.string(),
    "actor_id": pa.int64(),
    "actor_name": pa.string(),
    "ip_address": pa.string(),
    "source_id": pa.int64(),
    "source_type": pa.string(),
    "source_label": pa.string(),
    "change_description": pa.string(),
    "url": pa.string(),
    "_source": pa.string(),
}


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


# Declared NOT NULL in the table's hints; the Arrow schema says the same so dlt has nothing to reconcile.
_REQUIRED = frozenset({"id", "subdomain", "created_at", "_source"})


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """One Arrow table for rows that passed `rejection_reason` and `prepare_record`."""
    fields = [pa.field(name, kind, nullable=name not in _REQUIRED) for name, kind in _ARROW_TYPES.items()]
    arrays = [pa.array([row.get(field.name) for row in rows], type=field.type) for field in fields]
    extra = sorted({key for row in rows for key in row}.difference(_ARROW_TYPES))
    for name in extra:
        fields.append(pa.field(name, pa.string()))
        arrays.append(pa.array([_as_text(row.get(name)) for row in rows], type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class Batcher:
    """Collects rows and hands out full Arrow tables; `flush` returns what is left."""

    def __init__(self, size: int = BATCH_RECORDS) -> None:
        self.size = size
        self._rows: list[dict[str, Any]] = []

    def add(self, rows: Iterable[dict[str, Any]]) -> pa.Table | None:
        self._rows.extend(rows)
        return self.flush() if len(self._rows) >= self.size else None

    def flush(self) -> pa.Table | None:
        if not self._rows:
            return None
        table, self._rows = to_arrow(self._rows), []
        return table
