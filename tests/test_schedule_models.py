"""Zendesk schedules: the schedule_history mart, and off-hours judged against the account's own schedule.

Two accounts in one dataset: `acme` edits its schedules (workweek records in every encoding
Zendesk writes: a Ruby hash as it is, HTML-escaped once and twice, JSON with full day names,
several intervals a day, `{}`), `plain` has none and keeps the seed business_hours. The same
people's records in both accounts at exact local times are judged against each account's hours.
The answers come from tests/schedule_answers.py (a small parser of the documented text forms),
and the ones that matter are spelled out, so a wrong reference cannot hide a wrong model.
"""
from __future__ import annotations

import html
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from schedule_answers import WORKWEEK, BusinessHours, off_hours_reason, parse_workweek, schedule_rows
from test_dbt_models import load, mart_rows, pipeline_of, records_of, target  # noqa: F401 (target: a fixture)
from test_sql_models import ADMIN, SYSTEM, normalise, query_on, read_seed_csv

from zendesk_audit.models.build import build_models
from zendesk_audit.models.warehouse import open_engine
from zendesk_audit.settings import SQL_DIR
from zendesk_sandbox import Sandbox

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
SUPPORT, NIGHT = 7_000_000_000_001, 7_000_000_000_009


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS).astimezone(UTC)


def ruby(days: dict[str, list[tuple[str, str]]]) -> str:
    return "{" + ", ".join(f":{day}=>{{" + ", ".join(f'"{a}"=>"{b}"' for a, b in hours) + "}"
                           for day, hours in days.items()) + "}"


def escape(text: str) -> str:
    return html.escape(text, quote=True).replace("&#x27;", "'")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
NINE_TO_FIVE = ruby({day: [("09:00", "17:00")] for day in WEEKDAYS})
WITH_LUNCH = ruby({"mon": [("09:00", "12:00"), ("13:00", "17:00")], **{day: [("09:00", "17:00")] for day in WEEKDAYS[1:]},
                   "sat": [("10:00", "14:00")], "sun": []})
EIGHT_TO_EIGHT = ruby({day: [("08:00", "20:00")] for day in WEEKDAYS})
JSON_WEEK = '{"monday": {"07:00": "24:00"}, "tuesday": {"07:00": "12:00", "12:30": "19:00"}}'

# (name, created_at, schedule id, label, description as Zendesk wrote it)
CHANGES = [
    ("ruby", paris(2026, 10, 5, 0, 0), SUPPORT, "Workweek: Support hours",
     f"Workweek changed from {NINE_TO_FIVE} to {WITH_LUNCH}"),
    ("night_created", paris(2026, 10, 6, 0, 0), NIGHT, "Workweek: Night shift",
     escape(escape('Workweek changed from {} to {:mon=>{"00:00"=>"08:00", "22:00"=>"24:00"}}'))),
    ("escaped_once", paris(2026, 10, 12, 0, 0), SUPPORT, "Workweek: Support hours",
     escape(f"Workweek changed from {WITH_LUNCH} to {EIGHT_TO_EIGHT}")),
    ("escaped_twice", paris(2026, 10, 19, 0, 0), SUPPORT, "Workweek: Support hours",
     escape(escape(f"Workweek changed from {EIGHT_TO_EIGHT} to {{}}"))),
    ("json", paris(2026, 10, 26, 0, 0), SUPPORT, "Workweek: Support desk",
     escape(f"Workweek changed from {{}} to {JSON_WEEK}")),
]
# (name, created_at, reason in acme (its schedule), reason in plain (the seed, Mon-Fri 09:00-18:00))
PEOPLE = [
    ("before_first_change", paris(2026, 10, 1, 17, 30), "after_hours", None),  # version 0: 09:00-17:00
    ("early", paris(2026, 10, 1, 8, 30), "before_hours", "before_hours"),
    ("lunch", paris(2026, 10, 5, 12, 30), "after_hours", None),
    ("saturday_open", paris(2026, 10, 10, 11, 0), None, "weekend"),
    ("sunday_closed", paris(2026, 10, 11, 11, 0), "weekend", "weekend"),
    ("tuesday_evening", paris(2026, 10, 6, 17, 30), "after_hours", None),
    ("late_monday", paris(2026, 10, 12, 19, 0), None, "after_hours"),
    ("early_tuesday", paris(2026, 10, 13, 8, 30), None, "before_hours"),
    ("holiday", paris(2026, 10, 14, 10, 0), "holiday", "holiday"),
    ("closed_at_the_change", paris(2026, 10, 19, 0, 0), "weekend", "before_hours"),
    ("closed_all_week", paris(2026, 10, 21, 10, 0), "weekend", None),
    ("until_midnight", paris(2026, 10, 26, 23, 30), None, "after_hours"),
    ("between_shifts", paris(2026, 10, 27, 12, 15), "after_hours", None),
    ("no_wednesday", paris(2026, 10, 28, 10, 0), "weekend", None),
    ("before_seven", paris(2026, 10, 26, 6, 59), "before_hours", "before_hours"),
]


def seeds_with_a_holiday(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    shutil.copytree(SQL_DIR / "seeds", folder)
    (folder / "holidays.csv").write_text("holiday_date,holiday_name\n2026-10-14,Company day\n", encoding="utf-8")
    return folder


def fill(acme: Any, plain: Any) -> dict[tuple[str, str], int]:
    """The changes in acme, the people's records in both accounts (a system record too); their ids."""
    ids = {}
    for name, created_at, schedule_id, label, description in CHANGES:
        ids[("acme", name)] = acme.append(1, created_at=created_at, action="update", action_label="Updated",
                                          source_type=WORKWEEK, source_id=schedule_id, source_label=label,
                                          change_description=description, **ADMIN)[0]["id"]
    for sandbox in (acme, plain):
        for name, created_at, *_ in PEOPLE:
            ids[(sandbox.config.subdomain, name)] = sandbox.append(
                1, created_at=created_at, action="update", action_label="Updated", source_type="group",
                source_id=6_100_000_000_001, source_label="Group: Tier 2", change_description="Updated", **ADMIN)[0]["id"]
        sandbox.append(1, created_at=paris(2026, 10, 11, 3, 0), action="destroy", action_label="Deleted",
                       source_type="attachment", source_id=6_100_000_000_099, source_label="Attachment",
                       change_description="", **SYSTEM)
    return ids


def seed_hours(seeds: Path) -> dict[int, list[tuple[int, int]]]:
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    hours: dict[int, list[tuple[int, int]]] = {}
    for row in read_seed_csv(seeds, "business_hours"):
        opens, closes = (int(t[:2]) * 60 + int(t[3:]) for t in (row["opens_at"], row["closes_at"]))
        hours.setdefault(names.index(row["weekday"]) + 1, []).append((opens, closes))
    return hours


def expected_off_hours(records: list[dict[str, Any]], seeds: Path) -> set[tuple[Any, ...]]:
    """(subdomain, audit_log_id, off_hours_reason, business_hours_source, business_hours_schedule_id)."""
    business = BusinessHours(records, seed_hours(seeds))
    holidays = {datetime.fromisoformat(row["holiday_date"]).date() for row in read_seed_csv(seeds, "holidays")}
    found = set()
    for record in records:
        if record.get("actor_id") == -1:
            continue
        source, schedule_id, _, hours = business.of(record)
        reason = off_hours_reason(hours, holidays, record["created_at"].astimezone(PARIS).replace(tzinfo=None))
        if reason:
            found.add((record["subdomain"], record["id"], reason, source, schedule_id))
    return found


OFF_HOURS = ("select subdomain, audit_log_id, off_hours_reason, business_hours_source, business_hours_schedule_id "
             "from {m}.off_hours_changes")
SCHEDULES = ("select subdomain, schedule_id, version_number, weekday, interval_number, audit_log_id, schedule_name, "
             "opens_at_minute, closes_at_minute, valid_from, valid_to from {m}.schedule_history")


def rows(query: Any, sql: str) -> set[tuple[Any, ...]]:
    found = [tuple(normalise(value) for value in row) for row in query(sql)]
    assert len(found) == len(set(found)), "duplicate rows"
    return set(found)


def test_the_parser_of_these_tests_reads_every_encoding() -> None:
    """The reference itself, on the documented text forms (a wrong reference would hide a wrong model)."""
    assert parse_workweek(WITH_LUNCH) == {1: [(540, 720), (780, 1020)], 2: [(540, 1020)], 3: [(540, 1020)],
                                          4: [(540, 1020)], 5: [(540, 1020)], 6: [(600, 840)]}
    assert parse_workweek(JSON_WEEK) == {1: [(420, 1440)], 2: [(420, 720), (750, 1140)]}
    assert parse_workweek('{"mon":{"09:00":"17:00"}}') == {1: [(540, 1020)]} and parse_workweek("{}") == {}


def test_schedule_history_and_off_hours_against_each_accounts_hours(target: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    seeds = seeds_with_a_holiday(tmp_path)
    with Sandbox(records=0, subdomain="acme") as acme, Sandbox(records=0, subdomain="plain") as plain:
        ids = fill(acme, plain)
        load(acme, target)
        load(plain, target)
        pipeline = pipeline_of(target)
        build_models(pipeline, seeds_dir=seeds)
        records = records_of(acme) + records_of(plain)
    query = query_on(pipeline)
    schema = f"{target['dataset']}_models"
    history = rows(query, SCHEDULES.format(m=schema))
    assert history == schedule_rows(records)
    # Spelled out: Support hours has versions 0 (before its first change) to 4; Night shift was
    # created from `{}`, so it has no version 0; version 3 (`{}`) is closed all week.
    versions = {(row[1], row[2]) for row in history}
    assert versions == {(SUPPORT, number) for number in range(5)} | {(NIGHT, 1)}
    monday = sorted((row[4], row[7], row[8]) for row in history if row[1] == SUPPORT and row[2] == 1 and row[3] == 1)
    assert monday == [(1, 540, 720), (2, 780, 1020)]
    assert sorted((row[3], row[4], row[7]) for row in history if row[2] == 3) == [(day, 0, None) for day in range(1, 8)]
    assert {row[6] for row in history if row[1] == SUPPORT and row[2] == 4} == {"Support desk"}
    assert {(row[2], row[9], row[10]) for row in history if row[1] == SUPPORT and row[3] == 7} == {
        (0, None, paris(2026, 10, 5)), (1, paris(2026, 10, 5), paris(2026, 10, 12)),
        (2, paris(2026, 10, 12), paris(2026, 10, 19)), (3, paris(2026, 10, 19), paris(2026, 10, 26)),
        (4, paris(2026, 10, 26), None)}
    current = query(f"select distinct schedule_id, version_number from {schema}.schedule_history where is_current")
    assert sorted(current) == [(SUPPORT, 4), (NIGHT, 1)]
    off_hours = rows(query, OFF_HOURS.format(m=schema))
    assert off_hours == expected_off_hours(records, seeds)
    found = {(row[0], row[1]): row[2:] for row in off_hours}
    for name, _, in_acme, in_plain in PEOPLE:
        for subdomain, reason in (("acme", in_acme), ("plain", in_plain)):
            row = found.get((subdomain, ids[(subdomain, name)]))
            assert (row[0] if row else None) == reason, (subdomain, name)
            if row:
                assert row[1:] == (("zendesk_schedules", SUPPORT) if subdomain == "acme" else ("seed", None)), name
    names = query(f"select business_hours_schedule_name, min(created_at) from {schema}.off_hours_changes "
                  "where subdomain = 'acme' group by 1 order by 2")
    assert [name for name, _ in names] == ["Support hours", "Support desk"]  # renamed with the last change


def test_a_schedule_in_a_later_load_refreshes_to_the_answers_of_a_full_build(
    target: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    """A later load brings plain's first workweek record (dated in the middle of its history, as a
    late record would be): it turns plain's earlier records, on days no new record touches, from
    the seed to its schedule's version 0. It also brings acme's last change (26 October), late: it
    ends acme's version 3 and judges acme's records from 26 October on anew, not those before. The
    incremental refresh must equal a full build."""
    seeds = seeds_with_a_holiday(tmp_path)
    late_schedule = 7_000_000_000_100
    with Sandbox(records=0, subdomain="acme") as acme, Sandbox(records=0, subdomain="plain") as plain:
        ids = fill(acme, plain)
        plain.append(1, created_at=paris(2026, 10, 20, 9, 0), action="update", action_label="Updated",
                     source_type=WORKWEEK, source_id=late_schedule, source_label="Workweek: Plain hours",
                     change_description=escape(f"Workweek changed from {NINE_TO_FIVE} to {EIGHT_TO_EIGHT}"), **ADMIN)
        for sandbox in (acme, plain):
            load(sandbox, target)
        records = records_of(acme) + records_of(plain)
    pipeline = pipeline_of(target)
    raw = f"{target['dataset']}.audit_logs"
    with open_engine(pipeline) as engine:  # the record stays out of the first build, then comes with a new load
        held_back = f"source_id = {late_schedule} or id = {ids[('acme', 'json')]}"
        engine.execute(f"create table {target['dataset']}.held_back as select * from {raw} where {held_back}")
        engine.execute(f"delete from {raw} where {held_back}")
    build_models(pipeline, seeds_dir=seeds)
    query = query_on(pipeline)
    schema = f"{target['dataset']}_models"
    before = rows(query, OFF_HOURS.format(m=schema))
    assert {row[3] for row in before if row[0] == "plain"} == {"seed"}
    assert (ids[("acme", "until_midnight")], "weekend") in {(row[1], row[2]) for row in before}  # version 3: `{}`
    with open_engine(pipeline) as engine:
        engine.execute(f"update {target['dataset']}.held_back set _dlt_load_id = '9999999999.000001'")
        engine.execute(f"insert into {raw} select * from {target['dataset']}.held_back")
    refreshed = build_models(pipeline, seeds_dir=seeds)
    assert refreshed.built == [] and {"schedule_history", "off_hours_changes"} <= set(refreshed.refreshed)
    assert rows(query, SCHEDULES.format(m=schema)) == schedule_rows(records)
    off_hours = rows(query, OFF_HOURS.format(m=schema))
    assert off_hours == expected_off_hours(records, seeds)
    assert {row[3] for row in off_hours if row[0] == "plain"} == {"zendesk_schedules"}
    early = {(row[0], row[2]) for row in off_hours if row[1] in {r["id"] for r in records
                                                                 if r["created_at"] < paris(2026, 10, 2)}}
    assert ("plain", "after_hours") in early  # 17:30 on 1 October: inside the seed's hours, not version 0's
    incremental = mart_rows(pipeline)
    build_models(pipeline, seeds_dir=seeds, full_refresh=True)
    assert mart_rows(pipeline) == incremental


def test_the_setting_names_the_schedule_that_counts_and_a_change_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the lowest schedule id (Support hours) counts; `models.business_hours_schedule`
    (env MODELS__BUSINESS_HOURS_SCHEDULE, the dbt var `zendesk_audit_business_hours_schedule`)
    picks Night shift in the account that has it, and setting it rebuilds the marts without a full
    refresh; the account without schedules keeps the seed."""
    seeds = seeds_with_a_holiday(tmp_path)
    duckdb_target = {"destination": "duckdb", "dataset": "named", "path": tmp_path / "audit.duckdb"}
    with Sandbox(records=0, subdomain="acme") as acme, Sandbox(records=0, subdomain="plain") as plain:
        fill(acme, plain)
        load(acme, duckdb_target)
        load(plain, duckdb_target)
        records = records_of(acme) + records_of(plain)
    pipeline = pipeline_of(duckdb_target)
    holidays = {datetime(2026, 10, 14).date()}

    def expected(named: str | None) -> set[tuple[Any, ...]]:
        business = BusinessHours(records, seed_hours(seeds), named=named)
        answers = set()
        for record in records:
            source, schedule_id, _, hours = business.of(record)
            reason = off_hours_reason(hours, holidays, record["created_at"].astimezone(PARIS).replace(tzinfo=None))
            if reason and record.get("actor_id") != -1:
                answers.add((record["subdomain"], record["id"], reason, source, schedule_id))
        return answers

    build_models(pipeline, seeds_dir=seeds)
    by_default = rows(query_on(pipeline), OFF_HOURS.format(m="named_models"))
    assert by_default == expected(None)
    monkeypatch.setenv("MODELS__BUSINESS_HOURS_SCHEDULE", "Night shift")
    result = build_models(pipeline, seeds_dir=seeds)
    assert "off_hours_changes" in result.built, "a changed setting rebuilds the marts"
    off_hours = rows(query_on(pipeline), OFF_HOURS.format(m="named_models"))
    assert off_hours == expected("Night shift") and off_hours != by_default
    assert {(row[0], row[3], row[4]) for row in off_hours} >= {("acme", "zendesk_schedules", NIGHT), ("plain", "seed", None)}
