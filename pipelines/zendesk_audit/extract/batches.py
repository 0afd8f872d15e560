"""API records to Arrow tables: dlt writes them straight to Parquet, with no per-row normalizing.

Most pages are clean, so a window's records are first typed column by column by pyarrow
(`fast_table`): each column is inferred and must come out as its declared type, `created_at` is
parsed in one vectorized call, and anything unexpected (a float id, a missing time, an offset
other than Z, an old field name) sends the whole window to the careful path, record by record
(`source.split_records` then `to_arrow`), which also sets bad records aside.

Fields Zendesk adds later go, all together, into one text column `extra_fields` (a JSON object,
NULL when a record has none) rather than a column each: a column per field would let the API
change the table's shape at will, a new name could collide with a known one once dlt normalizes
it (`actorName` is `actor_name`), a value could change type from one record to the next, and a
buggy answer with thousands of keys would hit the database's column limit and stop every later run.

Each table leaves here with every id once (`one_row_per_id`), so the merge can tell dlt that its
staged rows are already deduplicated and skip a window function over every chunk, and with dlt's
row id already set (`with_row_ids`), so dlt's normalize imports the Parquet file as it is instead
of rewriting every row to add one.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention

from zendesk_audit.settings import TIME_FORMAT
from zendesk_audit.zendesk_api.decoding import escaped, is_unicode

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
    "extra_fields": pa.string(),
}
# Declared NOT NULL in the table's hints; the Arrow schema says the same so dlt has nothing to reconcile.
_REQUIRED = frozenset({"id", "subdomain", "created_at", "_source"})
_SET_HERE = frozenset({"subdomain", "_source", "extra_fields"})
ROW_ID = "_dlt_id"
_SCHEMA_FIELDS = [pa.field(name, kind, nullable=name not in _REQUIRED) for name, kind in _ARROW_TYPES.items()]
_SCHEMA = pa.schema(_SCHEMA_FIELDS)
_EXTRA_POSITION = list(_ARROW_TYPES).index("extra_fields")
# The fields of Zendesk's record as the API sends them; any other name is an extra field, except
# the two this loader sets on every row.
API_FIELDS = frozenset(_ARROW_TYPES).difference(_SET_HERE)
_OURS = frozenset({"subdomain", "_source"})
_NAMING = NamingConvention()
# Deeper than this, a value is not an audit-log field but a broken or hostile answer (and orjson
# writes at most 254 levels): the record is rejected rather than loaded.
MAX_NESTING = 64


def nested_deeper_than(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether lists and objects nest more than `limit` levels in `value`; without recursion,
    so a value nested a thousand levels deep is measured, not a RecursionError."""
    stack = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth == limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_text(value: Any) -> str:
    """`value` as compact JSON with sorted keys, whatever its depth.

    orjson first (its output is what existing `reject_key`s were hashed from), then Python's
    writer past orjson's 254 levels, then a writer without recursion past Python's limit. Text
    that is not valid Unicode (lone surrogates, see `zendesk_api.decoding`) comes out as
    `\\uXXXX` escapes, so the JSON text itself is always valid UTF-8.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError: too deep, an int past 64 bits, or a lone surrogate
        pass
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        text = _json_without_recursion(value)
    return text if is_unicode(text) else escaped(text)


class _Literal(str):
    """JSON text already written, on the stack of `_json_without_recursion`."""


def _json_without_recursion(value: Any) -> str:
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Literal):
            parts.append(item)
        elif isinstance(item, (dict, list)):
            close, entries = ("}", sorted(item.items())) if isinstance(item, dict) else ("]", list(enumerate(item)))
            stack.append(_Literal(close))
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                stack.append(child)
                separator = "," if index else ""
                if close == "}":
                    stack.append(_Literal(separator + json.dumps(key, ensure_ascii=False) + ":"))
                elif separator:
                    stack.append(_Literal(separator))
            stack.append(_Literal("{" if close == "}" else "["))
        else:
            parts.append(json.dumps(item, ensure_ascii=False))
    return "".join(parts)


def not_unicode(record: dict[str, Any]) -> str | None:
    """Why the record holds text no column can store (a lone surrogate, an invalid UTF-8 byte
    decoded by `zendesk_api.decoding`), naming the first such field; None when all is Unicode.
    Walks keys and values at every depth without recursion."""
    for name, value in record.items():
        if isinstance(name, str) and not is_unicode(name):
            return f"field name {escaped(_name(name))} is not valid Unicode (a lone surrogate escape or invalid UTF-8)"
        stack = [value]
        while stack:
            current = stack.pop()
            if isinstance(current, str):
                if not is_unicode(current):
                    return (f"field {_name(name)} holds text that is not valid Unicode "
                            "(a lone surrogate escape or invalid UTF-8)")
            elif isinstance(current, dict):
                stack.extend(current.keys())
                stack.extend(current.values())
            elif isinstance(current, list):
                stack.extend(current)
    return None


def extra_fields_problem(record: dict[str, Any]) -> str | None:
    """Why the fields outside the known twelve cannot be kept in `extra_fields`, or None.

    Two names that dlt would make one column (`actorName` beside `actor_name`, `ID` beside `id`)
    leave the record ambiguous; a value nested past `MAX_NESTING` is not an audit-log field.
    """
    for name, value in record.items():
        if name in API_FIELDS or name in _OURS:
            continue
        if isinstance(value, (dict, list)) and nested_deeper_than(value):
            return f"field {_name(name)} is nested more than {MAX_NESTING} levels deep"
        try:
            normalized = _NAMING.normalize_identifier(name)
        except ValueError:  # a name dlt cannot normalize (empty, blank): it stays inside extra_fields
            continue
        if normalized in API_FIELDS and normalized in record:
            return f"fields {_name(name)} and {_name(normalized)} are the same column once normalized"
    return None


def _name(name: str) -> str:
    return repr(name[:60])


def _extra_fields(record: dict[str, Any]) -> str | None:
    extra = {name: value for name, value in record.items() if name not in API_FIELDS and name not in _OURS}
    return json_text(extra) if extra else None


def _table(arrays: list[pa.Array], rows_with_extras: list[dict[str, Any]] | None) -> pa.Table:
    """The typed table; `extra_fields` filled from the rows when any of them has an extra field."""
    if rows_with_extras:
        arrays[_EXTRA_POSITION] = pa.array([_extra_fields(row) for row in rows_with_extras], type=pa.string())
    return pa.Table.from_arrays(arrays, schema=_SCHEMA)


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """One Arrow table for rows that passed `rejection_reason` and `prepare_record`."""
    arrays = [
        pa.nulls(len(rows), pa.string()) if field.name == "extra_fields"  # an API field of that name is an extra
        else pa.array([row.get(field.name) for row in rows], type=field.type)
        for field in _SCHEMA_FIELDS
    ]
    return _table(arrays, rows)


def fast_table(records: list[Any], subdomain: str) -> pa.Table | None:
    """The records as one typed table, or None when any of them needs the careful path."""
    if not records:
        return None
    try:
        arrays: list[pa.Array] = []
        for field in _SCHEMA_FIELDS:
            if field.name in _SET_HERE:
                value = {"subdomain": subdomain, "_source": "api"}.get(field.name)
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
        # One pass over the keys; the records with a field outside the twelve are looked at closer.
        with_extras = [record for record in records if not API_FIELDS.issuperset(record)]
        if any("changes_description" in record or extra_fields_problem(record) for record in with_extras):
            return None
        return _table(arrays, records if with_extras else None)
    except (pa.ArrowException, AttributeError, TypeError, ValueError, OverflowError):
        return None


def one_row_per_id(table: pa.Table) -> pa.Table:
    """The table with each id once: the latest by created_at, then the last read; checked in one
    vectorized pass, and only a table that repeats an id is walked row by row.

    Zendesk repeating a record inside one window is the case handled here; the same id in two
    windows of one chunk is left to the merge (see `source.audit_logs_resource`).
    """
    ids = table.column("id")
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table
    kept: dict[int, tuple[Any, int]] = {}
    for index, (record_id, created_at) in enumerate(zip(ids.to_pylist(), table.column("created_at").to_pylist())):
        previous = kept.get(record_id)
        if previous is None or created_at >= previous[0]:
            kept[record_id] = (created_at, index)
    return table.take(pa.array(sorted(index for _, index in kept.values()), pa.int64()))


def with_row_ids(table: pa.Table) -> pa.Table:
    """`_dlt_id`, the row id dlt would add in normalize, made here as `{subdomain}:{id}`: one
    vectorized pass instead of a Parquet rewrite, and a record keeps its row id when it is loaded again."""
    row_ids = pc.binary_join_element_wise(table.column("subdomain"), pc.cast(table.column("id"), pa.string()), ":")
    return table.append_column(pa.field(ROW_ID, pa.string(), nullable=False), row_ids)
