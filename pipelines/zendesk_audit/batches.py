"""API records to Arrow tables: dlt writes them straight to Parquet, with no per-row normalizing.

Most pages are clean, so a window's records are first typed column by column by pyarrow
(`fast_table`): each column is inferred and must come out as its declared type, `created_at` is
parsed in one vectorized call, and anything unexpected (a float id, a missing time, an offset
other than Z, an old field name) sends the whole window to the careful path, record by record
(`source.split_records` then `to_arrow`), which also sets bad records aside. A field Zendesk adds
later is kept as text (JSON for a non-string value), so a new field can never clash with itself.

Each table leaves here with every id once (`one_row_per_id`), so the merge can tell dlt that its
staged rows are already deduplicated and skip a window function over every chunk, and with dlt's
row id already set (`with_row_ids`), so dlt's normalize imports the Parquet file as it is instead
of rewriting every row to add one.
"""
from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from zendesk_audit.settings import TIME_FORMAT

UTC_MICROSECONDS = pa.timestamp("us", tz="UTC")
_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "subdomain": pa.string(),
    "created_at": UTC_MICROSECONDS,
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
# Declared NOT NULL in the table's hints; the Arrow schema says the same so dlt has nothing to reconcile.
_REQUIRED = frozenset({"id", "subdomain", "created_at", "_source"})
_SET_HERE = frozenset({"subdomain", "_source"})
ROW_ID = "_dlt_id"
_SCHEMA_FIELDS = [pa.field(name, kind, nullable=name not in _REQUIRED) for name, kind in _ARROW_TYPES.items()]


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _with_extras(fields: list[pa.Field], arrays: list[pa.Array], rows: list[dict[str, Any]]) -> pa.Table:
    extra = sorted(set().union(*rows).difference(_ARROW_TYPES)) if rows else []
    for name in extra:
        fields.append(pa.field(name, pa.string()))
        arrays.append(pa.array([_as_text(row.get(name)) for row in rows], type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """One Arrow table for rows that passed `rejection_reason` and `prepare_record`."""
    arrays = [pa.array([row.get(field.name) for row in rows], type=field.type) for field in _SCHEMA_FIELDS]
    return _with_extras(list(_SCHEMA_FIELDS), arrays, rows)


def fast_table(records: list[Any], subdomain: str) -> pa.Table | None:
    """The records as one typed table, or None when any of them needs the careful path."""
    if not records:
        return None
    try:
        arrays: list[pa.Array] = []
        for field in _SCHEMA_FIELDS:
            if field.name in _SET_HERE:
                value = subdomain if field.name == "subdomain" else "api"
                arrays.append(pa.repeat(pa.scalar(value, pa.string()), len(records)))
                continue
            inferred = pa.array([record.get(field.name) for record in records])
            if field.name == "created_at":
                if inferred.type != pa.string() or inferred.null_count:
                    return None
                arrays.append(pc.strptime(inferred, format=TIME_FORMAT, unit="us").cast(UTC_MICROSECONDS))
                continue
            if inferred.type not in (field.type, pa.null()) or (field.name == "id" and inferred.null_count):
                return None
            arrays.append(inferred.cast(field.type))
        if any("changes_description" in record for record in records):
            return None
    except (pa.ArrowException, AttributeError, TypeError, ValueError, OverflowError):
        return None
    return _with_extras(list(_SCHEMA_FIELDS), arrays, records)


def one_row_per_id(table: pa.Table) -> pa.Table:
    """The table with each id once (the last one read wins), checked in one vectorized pass.

    Windows never share a record (they split on created_at), so a chunk is free of repeats when
    each of its tables is; Zendesk repeating a record inside one window is the case left.
    """
    ids = table.column("id")
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table
    last_index = {value: index for index, value in enumerate(ids.to_pylist())}
    return table.take(pa.array(sorted(last_index.values()), pa.int64()))


def with_row_ids(table: pa.Table) -> pa.Table:
    """`_dlt_id`, the row id dlt would add in normalize, made here as `{subdomain}:{id}`: one
    vectorized pass instead of a Parquet rewrite, and a record keeps its row id when it is loaded again."""
    row_ids = pc.binary_join_element_wise(table.column("subdomain"), pc.cast(table.column("id"), pa.string()), ":")
    return table.append_column(pa.field(ROW_ID, pa.string(), nullable=False), row_ids)
