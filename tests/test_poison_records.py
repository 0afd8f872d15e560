"""One bad record never stops a run: it goes whole to `audit_logs_rejected`, the rest loads, and
every later run loads too. Records Zendesk sends twice are loaded once and counted.

Every record here is served byte for byte by the sandbox over real HTTP (`Sandbox.append_raw`),
loaded into a real DuckDB file, and each load is run twice: the second run proves that neither
dlt's state nor its schema kept anything of the bad record.
"""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import duckdb_ids, load_sandbox, postgres_rows
from zendesk_audit.load.api_load import LoadResult
from zendesk_audit.load.pipeline import create_pipeline

AT = datetime(2026, 1, 2, tzinfo=timezone.utc)
HISTORY_END = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def _rejected(path: Path) -> list[tuple[str, str]]:
    return _query(path, "select reason, raw_json from zendesk_audit.audit_logs_rejected order by reason")


_FRESH_IDS = itertools.count(1)


def _record(sandbox: Any, **fields: Any) -> dict[str, Any]:
    """A realistic record with an id nobody has, at `AT`, with `fields` changed."""
    record_id = max(sandbox.ids()) + 1_000 + next(_FRESH_IDS)
    record = {**sandbox.records()[-1], "id": record_id, "created_at": AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "url": f"https://acme.zendesk.com/api/v2/audit_logs/{record_id}.json"}
    record.update(fields)
    return record


def _deep(levels: int) -> str:
    """JSON text nested `levels` deep, objects and lists in turn (Python's own writer stops near 1,000)."""
    opening = "".join("[" if level % 2 else '{"level":' for level in range(levels))
    closing = "".join("]" if level % 2 else "}" for level in reversed(range(levels)))
    return f'{opening}"bottom"{closing}'


def _with_raw_field(record: dict[str, Any], name: str, json_text: str) -> str:
    """The record's JSON text with one more field, given as JSON text."""
    return json.dumps(record)[:-1] + f", {json.dumps(name)}: {json_text}}}"


def _load_twice(sandbox: Any, duckdb_path: Path, **args: Any) -> tuple[LoadResult, LoadResult]:
    first = load_sandbox(sandbox, duckdb_path, **args)
    second = load_sandbox(sandbox, duckdb_path, **args)
    return first, second


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", 2**63), ("id", 2**64 - 1), ("actor_id", 2**63 + 5), ("source_id", 2**64 - 1)],
)
def test_an_integer_past_64_bits_is_rejected_and_every_later_run_loads(
    sandbox_factory: Any, duckdb_path: Path, field: str, value: int
) -> None:
    sandbox = sandbox_factory(records=200, seed=71, history_end=HISTORY_END)
    good = sandbox.append(3, created_at=AT)
    sandbox.append_raw(_record(sandbox, **{field: value}))
    first, second = _load_twice(sandbox, duckdb_path)
    assert first.records_loaded == 203 and first.records_rejected == 1
    assert {record["id"] for record in good} <= set(duckdb_ids(duckdb_path))
    [(reason, raw_json)] = _rejected(duckdb_path)
    assert reason == f"{field} {value} is outside the 64-bit integer range"
    assert json.loads(raw_json)[field] == value  # kept whole, digit for digit
    assert second.records_loaded == 0 and second.cursor == first.cursor


def test_a_field_nested_hundreds_of_levels_deep_is_rejected_whole(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=200, seed=72, history_end=HISTORY_END)
    unknown = _with_raw_field(_record(sandbox), "zendesk_new_tree", _deep(300))
    known_record = _record(sandbox)
    del known_record["source_label"]
    known = _with_raw_field(known_record, "source_label", _deep(1_000))  # past Python's own recursion limit
    sandbox.append_raw(unknown)
    sandbox.append_raw(known, created_at=AT)
    sandbox.append(2, created_at=AT)
    first, second = _load_twice(sandbox, duckdb_path)
    assert first.records_loaded == 202 and first.records_rejected == 2
    rejected = dict(_rejected(duckdb_path))
    assert set(rejected) == {
        "field 'source_label' is nested more than 64 levels deep",
        "field 'zendesk_new_tree' is nested more than 64 levels deep",
    }
    raw_unknown = rejected["field 'zendesk_new_tree' is nested more than 64 levels deep"]
    assert json.loads(raw_unknown) == json.loads(unknown)  # kept whole
    raw_known = rejected["field 'source_label' is nested more than 64 levels deep"]
    assert _deep(1_000) in raw_known and raw_known.count('{"level":') == 500  # every level kept
    assert second.records_rejected == 2 and len(_rejected(duckdb_path)) == 2


@pytest.mark.parametrize(("name", "known"), [("actorName", "actor_name"), ("ID", "id"), ("Created At", "created_at")])
def test_a_field_that_is_a_known_column_once_normalized_is_rejected(
    sandbox_factory: Any, duckdb_path: Path, name: str, known: str
) -> None:
    sandbox = sandbox_factory(records=200, seed=73, history_end=HISTORY_END)
    sandbox.append_raw(_record(sandbox, **{name: "ambiguous"}))
    sandbox.append(2, created_at=AT)
    first, second = _load_twice(sandbox, duckdb_path)
    assert first.records_loaded == 202 and first.records_rejected == 1
    [(reason, _)] = _rejected(duckdb_path)
    assert reason == f"fields {name!r} and {known!r} are the same column once normalized"
    assert second.records_loaded == 0


def test_unknown_fields_of_any_name_and_type_load_into_extra_fields(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=200, seed=74, history_end=HISTORY_END)
    extras: dict[str, Any] = {
        "zendesk_count": 7,
        "zendesk_flag": True,
        "zendesk_ratio": 0.5,
        "zendesk_none": None,
        "zendesk_object": {"a": [1, {"b": "c"}]},
        "actorName": "without actor_name beside it",
        "_dlt_id": "not dlt's",
        "extra_fields": {"a field": "of that name"},
        "": "an empty name",
        "zendesk_deep": json.loads(_deep(60)),
    }
    wide = _record(sandbox, **extras)
    del wide["actor_name"]  # so `actorName` is not ambiguous
    sandbox.append_raw(wide)
    # A later field on a record the fast path types (a whole window of clean records plus one new field).
    plain = sandbox.append(1, created_at=AT + timedelta(seconds=1), zendesk_later="x")
    first, second = _load_twice(sandbox, duckdb_path)
    assert first.records_rejected == 0 and first.records_loaded == 202
    rows = dict(_query(duckdb_path, "select id, extra_fields from zendesk_audit.audit_logs where extra_fields is not null"))
    assert json.loads(rows[wide["id"]]) == extras
    assert json.loads(rows[plain[0]["id"]]) == {"zendesk_later": "x"}
    assert len(rows) == 2
    columns = {row[0] for row in _query(duckdb_path, "describe zendesk_audit.audit_logs")}
    assert not {"zendesk_count", "zendesk_object", "zendesk_later", "actor_name__v_text"} & columns
    assert second.records_loaded == 0 and second.records_rejected == 0


@pytest.mark.parametrize(
    "created_at", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00"]
)
def test_a_record_outside_the_range_asked_for_is_rejected_with_its_reason(
    sandbox_factory: Any, duckdb_path: Path, created_at: str
) -> None:
    sandbox = sandbox_factory(records=200, seed=75, history_end=HISTORY_END)
    stray = _record(sandbox, created_at=created_at)
    sandbox.append_raw(stray, created_at=AT)  # served among 2026's records, whatever it says
    sandbox.append(2, created_at=AT)
    first, second = _load_twice(sandbox, duckdb_path)
    assert first.records_loaded == 202 and first.records_rejected == 1
    [(reason, raw_json)] = _rejected(duckdb_path)
    assert reason.startswith(f"created_at {created_at!r} is outside the range asked for (") or (
        reason == f"created_at {created_at!r} is not an ISO-8601 time"  # a time Python cannot hold in UTC
    )
    assert json.loads(raw_json) == stray
    assert stray["id"] not in duckdb_ids(duckdb_path)
    assert second.records_loaded == 0 and len(_rejected(duckdb_path)) == 1


def test_a_record_in_the_second_asked_past_the_window_is_left_to_the_next_run_not_rejected(
    sandbox_factory: Any, duckdb_path: Path
) -> None:
    """Each request asks one second more than its window (Zendesk's bounds may be exclusive):
    what Zendesk returns in that second belongs to the next window or run, and is no error."""
    sandbox = sandbox_factory(records=200, seed=76, history_end=HISTORY_END)
    end = AT
    [neighbour] = sandbox.append(1, created_at=end + timedelta(seconds=1))
    bounded = load_sandbox(sandbox, duckdb_path, start="2025-01-01T00:00:00Z", end=end.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert bounded.records_rejected == 0 and bounded.records_loaded == 200
    assert neighbour["id"] not in duckdb_ids(duckdb_path)
    later = load_sandbox(sandbox, duckdb_path)
    assert later.records_rejected == 0 and neighbour["id"] in duckdb_ids(duckdb_path)


def test_the_same_id_twice_on_one_page_keeps_the_latest_and_is_counted(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=200, seed=77, history_end=HISTORY_END)
    later_time = _record(sandbox, created_at="2026-01-02T00:00:01Z", action_label="latest by created_at")
    sandbox.append_raw(later_time, created_at=AT)
    sandbox.append_raw({**later_time, "created_at": "2026-01-02T00:00:00Z", "action_label": "older"}, created_at=AT)
    same_time = _record(sandbox, action_label="first read")
    sandbox.append_raw(same_time)
    sandbox.append_raw({**same_time, "action_label": "last read"})
    result = load_sandbox(sandbox, duckdb_path)
    labels = dict(_query(duckdb_path, f"select id, action_label from zendesk_audit.audit_logs "
                                      f"where id in ({later_time['id']}, {same_time['id']})"))
    assert labels == {later_time["id"]: "latest by created_at", same_time["id"]: "last read"}
    ids = duckdb_ids(duckdb_path)
    assert len(ids) == len(set(ids)) == 202
    assert result.records_duplicated == 2 and result.records_loaded == 202
    assert "2 duplicate records kept once" in result.summary_line()


def test_the_same_id_in_two_windows_of_one_load_is_one_row_the_latest(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=400, seed=78, history_end=HISTORY_END)
    first_copy = _record(sandbox, action_label="first copy")
    sandbox.append_raw(first_copy)
    sandbox.append(150, created_at=AT + timedelta(hours=12))  # more than a window between the copies
    sandbox.append_raw({**first_copy, "created_at": "2026-01-03T00:00:00Z", "action_label": "latest copy"})
    result = load_sandbox(sandbox, duckdb_path, window_records=100)
    rows = _query(duckdb_path, f"select created_at, action_label from zendesk_audit.audit_logs where id = {first_copy['id']}")
    assert [label for _, label in rows] == ["latest copy"]
    ids = duckdb_ids(duckdb_path)
    assert len(ids) == len(set(ids)) == 551
    assert result.records_duplicated == 1 and result.records_loaded == 551

    # The next chunk takes its staged rows as unique again (the fast merge), and still loads once.
    sandbox.append(5, created_at=AT + timedelta(days=2))
    again = load_sandbox(sandbox, duckdb_path, window_records=100)
    assert again.records_loaded == 5 and again.records_duplicated == 0
    table = create_pipeline("duckdb", duckdb_path=str(duckdb_path)).default_schema.tables["audit_logs"]
    assert table.get("x-stage-data-deduplicated") is True
    assert "dedup_sort" not in table["columns"]["created_at"]


def test_the_same_id_in_two_windows_is_one_row_the_latest_on_postgres_too(sandbox_factory: Any, postgres: str) -> None:
    sandbox = sandbox_factory(records=400, seed=79, history_end=HISTORY_END)
    first_copy = _record(sandbox, action_label="first copy")
    sandbox.append_raw(first_copy)
    sandbox.append(150, created_at=AT + timedelta(hours=12))
    sandbox.append_raw({**first_copy, "created_at": "2026-01-03T00:00:00Z", "action_label": "latest copy"})
    result = load_sandbox(sandbox, destination="postgres", dataset=postgres, window_records=100)
    assert result.records_duplicated == 1 and result.records_loaded == 551
    assert postgres_rows(postgres, f"select action_label from {{dataset}}.audit_logs where id = {first_copy['id']}") == [
        ("latest copy",)
    ]
    assert postgres_rows(postgres, "select count(*), count(distinct id) from {dataset}.audit_logs") == [(551, 551)]


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_time_that_leaves_the_calendar_in_utc_is_a_value_error_not_a_crash(text: str) -> None:
    from zendesk_audit.errors import ConfigurationError
    from zendesk_audit.extract.options import resolve_options
    from zendesk_audit.times import parse_utc

    with pytest.raises(ValueError, match="outside the years"):
        parse_utc(text)
    with pytest.raises(ConfigurationError):
        resolve_options(subdomain="acme", base_url=None, start=text, end=None, lag_seconds=300)


@pytest.mark.parametrize(
    ("field", "raw_value", "kept"),
    [
        ("actor_name", b'"half emoji \\ud83d"', "half emoji \\ud83d"),  # a lone surrogate escape: valid JSON grammar
        ("source_label", b'"Trigger: caf\xe9 \xff"', "Trigger: caf\\udce9 \\udcff"),  # raw bytes that are not UTF-8
    ],
)
def test_a_record_that_is_not_valid_unicode_is_rejected_and_the_rest_of_its_page_loads(
    sandbox_factory: Any, duckdb_path: Path, field: str, raw_value: bytes, kept: str
) -> None:
    sandbox = sandbox_factory(records=200, seed=80, history_end=HISTORY_END)
    before = sandbox.append(2, created_at=AT)
    bad = _record(sandbox)
    del bad[field]
    bad_id = bad["id"]
    sandbox.append_raw(json.dumps(bad)[:-1].encode() + b', "' + field.encode() + b'": ' + raw_value + b"}")
    after = sandbox.append(2, created_at=AT)  # on the same page as the bad record
    first, second = _load_twice(sandbox, duckdb_path)
    assert first.records_loaded == 204 and first.records_rejected == 1
    assert {record["id"] for record in before + after} <= set(duckdb_ids(duckdb_path))
    assert bad_id not in duckdb_ids(duckdb_path)
    [(reason, raw_json)] = _rejected(duckdb_path)
    assert reason == f"field {field!r} holds text that is not valid Unicode (a lone surrogate escape or invalid UTF-8)"
    assert raw_json.isascii() and f'"{field}":"{kept}"' in raw_json  # the bad text kept, escaped
    assert json.loads(raw_json)["id"] == bad_id
    assert second.records_loaded == 0 and second.cursor == first.cursor and len(_rejected(duckdb_path)) == 1


def test_the_load_command_exits_0_past_an_undecodable_record(sandbox: Any, tmp_path: Path) -> None:
    from test_cli import run_cli

    bad = {**sandbox.records()[-1], "id": max(sandbox.ids()) + 7}
    del bad["actor_name"]
    sandbox.append_raw(json.dumps(bad)[:-1].encode() + b', "actor_name": "half emoji \\ud83d"}')
    env = {"SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
           "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": sandbox.config.email,
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": sandbox.config.api_token}
    for _ in range(2):
        result = run_cli(["load", "--no-models"], tmp_path, env)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert "1 rejected into audit_logs_rejected" in result.stdout + result.stderr
