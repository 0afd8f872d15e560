"""Parse and answer the list endpoint's query string: filters, sort, cursor and offset pages.

Zendesk documents neither whether the bounds of `filter[created_at][]` are inclusive nor whether
an offset page carries `count`; the sandbox answers each way (`created_at_bounds`, default both
inclusive; `offset_count`, default off), so a connector can be proved against every reading.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from zendesk_sandbox import errors
from zendesk_sandbox.config import CREATED_AT_BOUNDS
from zendesk_sandbox.data import SEQ_BITS, RecordStore, parse_time

MAX_PAGE_SIZE = 100
MAX_OFFSET_PAGE = 100
MAX_OFFSET_RECORDS = 10_000
INT_FIELDS = ("actor_id", "source_id")
LOWEST = -(1 << 62)
HIGHEST = 1 << 62
CURSOR_PREFIX = "zs1:"


@dataclass
class ListQuery:
    """One parsed list request."""

    params: list[tuple[str, str]]
    filters: dict[str, set[Any]] = field(default_factory=dict)
    low: int = LOWEST
    high: int = HIGHEST
    cursor_mode: bool = False
    ascending: bool = False
    size: int = MAX_PAGE_SIZE
    after: int | None = None
    before: int | None = None
    page: int = 1


def encode_cursor(key: int) -> str:
    """An opaque cursor for one sort-key position."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{key}".encode()).decode().rstrip("=")


def decode_cursor(text: str, name: str) -> int:
    """The sort-key position inside a cursor.

    Raises:
        ApiError: 400 when the cursor is not one of ours.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        if not raw.startswith(CURSOR_PREFIX):
            raise ValueError(raw)
        return int(raw[len(CURSOR_PREFIX):])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.invalid_pagination(f"{name} is not a valid cursor") from None


def parse_list_query(params: list[tuple[str, str]], bounds: str = CREATED_AT_BOUNDS[0]) -> ListQuery:
    """Turn the query pairs into a ListQuery; `bounds` says which `created_at` bounds include their second.

    Raises:
        ApiError: 400 for any malformed value, in Zendesk's JSON style.
    """
    query = ListQuery(params=params)
    created: list[str] = []
    values: dict[str, list[str]] = {}
    single: dict[str, str] = {}
    for key, value in params:
        if key.startswith("filter["):
            name = key[len("filter["):].split("]", 1)[0]
            if name == "created_at":
                created.append(value)
            elif name in ("action", "actor_id", "ip_address", "source_type", "source_id"):
                values.setdefault(name, []).append(value)
        else:
            single[key] = value
            if key.startswith("page["):
                query.cursor_mode = True
    for name, raw in values.items():
        if name in INT_FIELDS:
            try:
                query.filters[name] = {int(v) for v in raw}
            except ValueError:
                raise errors.invalid_value(f"filter[{name}] must be an integer") from None
        else:
            query.filters[name] = set(raw)
    if "source_id" in query.filters and "source_type" not in query.filters:
        raise errors.invalid_value("filter[source_id] requires filter[source_type]")
    if len(created) > 2:
        raise errors.invalid_value("filter[created_at] takes at most two values: start, end")
    try:
        seconds = [int(parse_time(v).timestamp()) for v in created]
    except ValueError:
        raise errors.invalid_value(
            "filter[created_at] must be ISO-8601 UTC, e.g. 2026-01-01T00:00:00Z") from None
    start_included = bounds in ("inclusive", "start-inclusive")
    end_included = bounds in ("inclusive", "end-inclusive")
    if seconds:
        query.low = (seconds[0] + (0 if start_included else 1)) << SEQ_BITS
    if len(seconds) == 2:
        query.high = ((seconds[1] + (1 if end_included else 0)) << SEQ_BITS) - 1
    if query.cursor_mode:
        _parse_cursor_params(query, single)
    else:
        _parse_offset_params(query, single)
    return query


def _parse_cursor_params(query: ListQuery, single: dict[str, str]) -> None:
    sort = single.get("sort", "-created_at")
    if sort not in ("created_at", "-created_at"):
        raise errors.invalid_value("sort must be created_at or -created_at")
    query.ascending = sort == "created_at"
    raw_size = single.get("page[size]", str(MAX_PAGE_SIZE))
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        raise errors.invalid_pagination(
            f"page[size] must be an integer between 1 and {MAX_PAGE_SIZE}")
    query.size = int(raw_size)
    if "page[after]" in single and "page[before]" in single:
        raise errors.invalid_pagination("page[after] and page[before] cannot be combined")
    if single.get("page[after]"):
        query.after = decode_cursor(single["page[after]"], "page[after]")
    if single.get("page[before]"):
        query.before = decode_cursor(single["page[before]"], "page[before]")


def _parse_offset_params(query: ListQuery, single: dict[str, str]) -> None:
    order = single.get("sort_order", "desc").lower()
    if order not in ("asc", "desc"):
        raise errors.invalid_value("sort_order must be asc or desc")
    query.ascending = order == "asc"
    for name in ("page", "per_page"):
        raw = single.get(name)
        if raw is not None and (not raw.isdigit() or int(raw) < 1):
            raise errors.invalid_value(f"{name} must be a positive integer")
    query.page = int(single.get("page", "1"))
    query.size = min(int(single.get("per_page", str(MAX_PAGE_SIZE))), MAX_PAGE_SIZE)
    if query.page > MAX_OFFSET_PAGE or query.page * query.size > MAX_OFFSET_RECORDS:
        raise errors.pagination_depth()


def answer_list(store: RecordStore, query: ListQuery, base: str, offset_count: bool = False) -> tuple[bytes, int]:
    """The list answer's JSON bytes and how many records it serves.

    `offset_count`: whether an offset page carries `count` (Zendesk does not promise it).
    """
    if query.cursor_mode:
        return _cursor_page(store, query, base)
    return _offset_page(store, query, base, offset_count)


def _cursor_page(store: RecordStore, query: ListQuery, base: str) -> tuple[bytes, int]:
    """One cursor page. A cursor the page has none for is written as `last_page_cursor` says.

    That is the cursor onward in the walk's direction on the last page (`after_cursor` and
    `links.next` going forward, `before_cursor` and `links.prev` going back), and every cursor
    and link on an empty page. Zendesk writes them `""`.
    """
    low, high = query.low, query.high
    backwards = query.before is not None
    upward = query.ascending != backwards
    cursor = query.before if backwards else query.after
    if cursor is not None:
        if upward:
            low = max(low, cursor + 1)
        else:
            high = min(high, cursor - 1)
    with store.lock:
        keys = store.take(query.filters, low, high, upward, query.size + 1)
        has_more = len(keys) > query.size
        keys = keys[:query.size]
        if backwards:
            keys.reverse()
        body = store.page_json(keys)
    values: dict[bytes, bytes | None] = {}
    missing: tuple[tuple[bytes, bytes], ...] = ((b"after_cursor", b"next"), (b"before_cursor", b"prev"))
    if keys:
        after, before = encode_cursor(keys[-1]).encode(), encode_cursor(keys[0]).encode()
        prefix = _link_prefix(base, query.params, ("page[after]", "page[before]"))
        values = {b"after_cursor": b'"%s"' % after, b"before_cursor": b'"%s"' % before,
                  b"prev": b'"%spage[before]=%s"' % (prefix, before),
                  b"next": b'"%spage[after]=%s"' % (prefix, after)}
        onward = missing[1] if backwards else missing[0]
        missing = () if has_more or store.config.last_page_cursor == "cursor" else (onward,)
    filler = _MISSING_CURSOR[store.config.last_page_cursor]
    for cursor_name, link_name in missing:
        values[cursor_name] = values[link_name] = filler
    meta = b"".join([b',"%s":%s' % (name, values[name]) for name in (b"after_cursor", b"before_cursor")
                     if values[name] is not None])
    links = b",".join([b'"%s":%s' % (name, values[name]) for name in (b"prev", b"next")
                       if values[name] is not None])
    tail = b'"meta":{"has_more":%s%s},"links":{%s}}' % (b"true" if has_more else b"false", meta, links)
    return b'{"audit_logs":[' + body + b"]," + tail, len(keys)


def _offset_page(store: RecordStore, query: ListQuery, base: str, offset_count: bool) -> tuple[bytes, int]:
    skip = (query.page - 1) * query.size
    with store.lock:
        keys = store.take(query.filters, query.low, query.high, query.ascending, query.size + 1, skip)
        has_next = len(keys) > query.size
        keys = keys[:query.size]
        body = store.page_json(keys)
        count = store.count(query.filters, query.low, query.high) if offset_count else None
    kept = [(k, v) for k, v in query.params if k != "page"]
    next_page = _url(base, kept + [("page", str(query.page + 1))]) if has_next else None
    previous_page = _url(base, kept + [("page", str(query.page - 1))]) if query.page > 1 else None
    pagination: dict[str, Any] = {"next_page": next_page, "previous_page": previous_page}
    if offset_count:
        pagination["count"] = count
    return b'{"audit_logs":[' + body + b"]," + _dumps(pagination)[1:], len(keys)


# What a cursor page writes for a cursor it has none for, by `last_page_cursor` (None: leaves it out).
_MISSING_CURSOR: dict[str, bytes | None] = {"empty": b'""', "null": b"null", "absent": None, "cursor": b"null"}

# The links of a walk differ only in their cursor: their common part is built once per query.
_LINK_PREFIXES: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
_LINK_PREFIX_LIMIT = 4_096


def _link_prefix(base: str, params: list[tuple[str, str]], dropped: tuple[str, ...]) -> bytes:
    """`base?kept-params&` as JSON string content, ready for a cursor parameter to be appended."""
    kept = tuple((k, v) for k, v in params if k not in dropped)
    key = (base, kept)
    prefix = _LINK_PREFIXES.get(key)
    if prefix is None:
        if len(_LINK_PREFIXES) >= _LINK_PREFIX_LIMIT:
            _LINK_PREFIXES.clear()
        text = _url(base, list(kept))
        prefix = _LINK_PREFIXES[key] = orjson.dumps(text + ("&" if kept else ""))[1:-1]  # JSON-escaped
    return prefix


def _url(base: str, params: list[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(params, safe='[]')}"


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)
