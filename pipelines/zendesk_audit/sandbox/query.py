"""Parse and answer the list endpoint's query string: filters, sort, cursor and offset pages.

Bounds of `filter[created_at][]` are both inclusive (Zendesk does not document it; connectors
must cope with either).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from zendesk_audit.sandbox import errors
from zendesk_audit.sandbox.data import SEQ_BITS, RecordStore, parse_time

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


def parse_list_query(params: list[tuple[str, str]]) -> ListQuery:
    """Turn the query pairs into a ListQuery.

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
        bounds = [int(parse_time(v).timestamp()) for v in created]
    except ValueError:
        raise errors.invalid_value(
            "filter[created_at] must be ISO-8601 UTC, e.g. 2026-01-01T00:00:00Z") from None
    if bounds:
        query.low = bounds[0] << SEQ_BITS
    if len(bounds) == 2:
        query.high = ((bounds[1] + 1) << SEQ_BITS) - 1
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


def answer_list(store: RecordStore, query: ListQuery, base: str) -> tuple[bytes, int]:
    """The list answer's JSON bytes and how many records it serves."""
    if query.cursor_mode:
        return _cursor_page(store, query, base)
    return _offset_page(store, query, base)


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
        stream = store.stream(query.filters, low, high, upward)
        keys = [key for _, key in zip(range(query.size + 1), stream)]
        has_more = len(keys) > query.size
        keys = keys[:query.size]
        if backwards:
            keys.reverse()
        body = _records_json(store, keys)
    meta: dict[str, Any] = {"has_more": has_more, "after_cursor": None, "before_cursor": None}
    links: dict[str, Any] = {"prev": None, "next": None}
    mode = store.config.last_page_cursor
    missing = [("after_cursor", "next"), ("before_cursor", "prev")]
    if keys:
        meta["after_cursor"] = encode_cursor(keys[-1])
        meta["before_cursor"] = encode_cursor(keys[0])
        kept = [(k, v) for k, v in query.params if k not in ("page[after]", "page[before]")]
        links["next"] = _url(base, kept + [("page[after]", meta["after_cursor"])])
        links["prev"] = _url(base, kept + [("page[before]", meta["before_cursor"])])
        onward = ("before_cursor", "prev") if backwards else ("after_cursor", "next")
        missing = [] if has_more or mode == "cursor" else [onward]
    for cursor_name, link_name in missing:
        if mode == "absent":
            del meta[cursor_name], links[link_name]
        else:
            meta[cursor_name] = links[link_name] = "" if mode == "empty" else None
    tail = _dumps({"meta": meta, "links": links})
    return b'{"audit_logs":[' + body + b"]," + tail[1:], len(keys)


def _offset_page(store: RecordStore, query: ListQuery, base: str) -> tuple[bytes, int]:
    skip = (query.page - 1) * query.size
    with store.lock:
        count = store.count(query.filters, query.low, query.high)
        stream = store.stream(query.filters, query.low, query.high, query.ascending)
        for _ in zip(range(skip), stream):
            pass
        keys = [key for _, key in zip(range(query.size), stream)]
        body = _records_json(store, keys)
    kept = [(k, v) for k, v in query.params if k != "page"]
    next_page = (_url(base, kept + [("page", str(query.page + 1))])
                 if skip + len(keys) < count else None)
    previous_page = _url(base, kept + [("page", str(query.page - 1))]) if query.page > 1 else None
    tail = _dumps({"next_page": next_page, "previous_page": previous_page, "count": count})
    return b'{"audit_logs":[' + body + b"]," + tail[1:], len(keys)


def _records_json(store: RecordStore, keys: list[int]) -> bytes:
    mask = (1 << SEQ_BITS) - 1
    blob = store.blob
    return b",".join([blob(key & mask) for key in keys])


def _url(base: str, params: list[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(params, safe='[]')}"


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)
