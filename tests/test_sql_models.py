"""The SQL models (the dbt project sql/) on DuckDB and PostgreSQL (the machine's real server), against known answers.

The data set is a small seeded sandbox plus hand-made records with exact times and fields (DST,
the edges of business hours, double-escaped entities, multi-line role changes, incident window
edges). The answers are computed here in plain Python (zoneinfo, html.unescape, regular
expressions) from the records the sandbox served, never with the models' SQL.
"""
from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from schedule_answers import BusinessHours, off_hours_reason, schedule_rows
from sigma_oracle import matches

from conftest import POSTGRES_URL, load_sandbox
from zendesk_audit.cli.models import models_group
from zendesk_audit.errors import ConfigurationError
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import (
    ModelBuildError,
    SeedError,
    build_models,
    check_models,
    demo_lines,
    model_names,
    model_status,
)
from zendesk_audit.models.detection_rules import load_detection_rules
from zendesk_audit.models.warehouse import open_engine
from zendesk_audit.settings import SQL_DIR
from zendesk_sandbox import Sandbox

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
MARTS = sorted(path.stem for path in (SQL_DIR / "models" / "marts").glob("*.sql"))
README = Path(__file__).resolve().parents[1] / "README.md"
MODELS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "models.md"

ADMIN = {"actor_id": 3_912_345_678_907, "actor_name": "Ada Tester", "ip_address": "81.2.3.4"}
OTHER = {"actor_id": 3_987_654_321_007, "actor_name": "Otto Other", "ip_address": "85.2.3.4"}
SYSTEM = {"actor_id": -1, "actor_name": "Zendesk", "ip_address": None}
GROUP = {"source_type": "group", "source_id": 6_100_000_000_001, "source_label": "Group: Tier 2"}
USER = {"source_type": "user", "source_id": 3_955_555_555_507, "source_label": "Lena Role"}
APITOKEN = {"source_type": "apitoken", "source_id": 6_100_000_000_012, "source_label": "API token: zapier"}
SIGN_IN = {"action": "login", "action_label": "Signed in", "source_type": "user", "source_id": USER["source_id"],
           "source_label": "Team member: Lena Role", "actor_id": USER["source_id"], "actor_name": "Lena Role"}
WORKWEEK = (
    "Workweek changed from {:mon=&amp;gt;{&quot;09:00&quot;=&amp;gt;&quot;17:00&quot;}} "
    "to {:mon=&amp;gt;{&quot;08:00&quot;=&amp;gt;&quot;18:00&quot;}}"
)


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS).astimezone(UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def update(description: str = "Updated", **fields: Any) -> dict[str, Any]:
    return {"action": "update", "action_label": "Updated", "change_description": description, **ADMIN, **GROUP, **fields}


# (name, created_at, fields): each one pins an edge the models must get right.
CASES: list[tuple[str, datetime, dict[str, Any]]] = [
    ("weekend", paris(2026, 10, 3, 10, 0), update()),
    ("system_weekend", paris(2026, 10, 3, 11, 0), update(**SYSTEM)),
    ("before_hours", paris(2026, 10, 6, 8, 59, 59), update()),
    ("opening", paris(2026, 10, 6, 9, 0, 0), update()),
    ("last_second", paris(2026, 10, 6, 17, 59, 59), update(**OTHER)),
    ("closing", paris(2026, 10, 6, 18, 0, 0), update(**OTHER)),
    ("holiday", paris(2026, 10, 7, 12, 0), update()),
    # After the DST change (25 October) Paris is UTC+1: 07:30Z is 08:30 local, before hours.
    ("after_dst", utc(2026, 10, 26, 7, 30), update()),
    ("double_escaped", utc(2026, 10, 8, 10, 0), update(
        WORKWEEK, source_type="zendesk/business_hours/workweek", source_id=6_100_000_000_002,
        source_label="Workweek: Paris office")),
    ("role_lines", utc(2026, 10, 8, 11, 0), update(
        "Role changed from Agent to Administrator\r\nGroup changed from Tier 1 to Tier 2\n\n", **USER)),
    ("support_role", utc(2026, 10, 8, 12, 0), update("Support role changed from Light Agent to Admin", **USER)),
    # One line per product in one record, in Zendesk's words; `not set` is no role in that product.
    ("product_roles", utc(2026, 10, 13, 10, 0), update(
        "Explore role changed from not set to Admin\nGuide role changed from not set to Manager\n"
        "Talk role changed from Agent to not set\nSupport role changed from Staff to not set", **USER)),
    # Exports that spell the line break out as the two characters `\` `n` (and `\r\n`).
    ("spelled_out_breaks", utc(2026, 10, 13, 10, 1), update(
        "Support role changed from Admin to Advisor\\nChat role changed from not set to Agent\\r\\n"
        "Sell role changed from Admin to not set", **USER)),
    ("br_breaks", utc(2026, 10, 13, 10, 2), update(
        "Role changed from End User to Administrator<br>Admin Center role changed from not set to Admin<br/>"
        "Contact Center role changed from not set to Agent<br />Workforce management role changed from Agent to Admin",
        **USER)),
    # Admin Center's newer product names, `<br>` HTML-escaped once and twice.
    ("escaped_br_breaks", utc(2026, 10, 13, 10, 3), update(
        "Knowledge role changed from Viewer to Admin&lt;br&gt;Voice role changed from Lead to Admin&amp;lt;BR /&amp;gt;"
        "Analytics role changed from Editor to Viewer", **USER)),
    # Admin -> Administrator grants nothing; a product no one listed still lands, under its own words.
    ("admin_renamed", utc(2026, 10, 13, 10, 4), update(
        "Support role changed from Admin to Administrator\nZendesk QA role changed from not set to Account manager\n"
        "AI agents - Advanced role changed from Client user to Client admin\n"
        "Marketplace role changed from not set to Admin\nSupport role changed from Advisor to Admin", **USER)),
    ("trigger", utc(2026, 10, 9, 10, 0), update(
        "description changed from not set to Tom &amp;amp; &quot;Jerry&quot;", source_type="rule",
        source_id=6_100_000_000_003, source_label="Trigger: Notify: requester")),
    ("sla", utc(2026, 10, 9, 10, 1), update("", source_type="sla/policy", source_id=6_100_000_000_004,
                                             source_label="SLA policy: Gold", **SYSTEM)),
    ("plain_macro", utc(2026, 10, 9, 10, 2), update("Updated", source_type="macro", source_id=6_100_000_000_005,
                                                     source_label="Plain macro")),
    ("api_token", utc(2026, 10, 12, 10, 0), update("", action="create", action_label="Created", source_type="api_token",
                                                    source_id=6_100_000_000_006, source_label="API token: ci")),
    ("two_factor", utc(2026, 10, 12, 10, 1), update("Disabled", source_type="account_setting", source_id=6_100_000_000_007,
                                                     source_label="Two-factor authentication")),
    ("card_redaction", utc(2026, 10, 12, 10, 2), update("Disabled", source_type="account_setting",
                                                         source_id=6_100_000_000_008, source_label="Credit card redaction")),
    ("owner", utc(2026, 10, 12, 10, 3), update("Owner changed from Ada Tester to Otto Other", source_type="account_setting",
                                                source_id=6_100_000_000_009, source_label="Account owner")),
    ("assumption", utc(2026, 10, 12, 10, 4), update("Changed from Off to 1 week", source_type="account_setting",
                                                     source_id=6_100_000_000_010, source_label="Account assumption")),
    ("export", utc(2026, 10, 12, 10, 5), update("", action="exported", action_label="Exported", source_type="account",
                                                 source_id=6_100_000_000_011, source_label="Audit log")),
    ("login", utc(2026, 10, 12, 10, 6), update("", action="login", action_label="Signed in", source_type="user",
                                                source_id=ADMIN["actor_id"], source_label=ADMIN["actor_name"])),
    # Zendesk's own words: `apitoken` beside `api_token`; sign-ins by the user whose role changes above.
    ("apitoken_created", utc(2026, 10, 12, 10, 7), update("", action="create", action_label="Created", **APITOKEN)),
    ("apitoken_changed", utc(2026, 10, 12, 10, 8), update("Disabled", **APITOKEN)),
    ("apitoken_deleted", utc(2026, 10, 12, 10, 9), update("", action="destroy", action_label="Deleted", **APITOKEN)),
    ("sign_in_google", utc(2026, 10, 12, 10, 10), update("Successful sign-in using Google", **SIGN_IN)),
    ("sign_in_jwt", utc(2026, 10, 12, 18, 30), update("Successful sign-in using JWT", **SIGN_IN)),
    # incident INC-1 starts 2026-10-20T12:00:00Z with a 2 hour lookback
    ("incident_too_early", utc(2026, 10, 20, 9, 59, 59), update()),
    ("incident_first", utc(2026, 10, 20, 10, 0, 0), update(**OTHER)),
    ("incident_mid", utc(2026, 10, 20, 11, 30, 30), update()),
    ("incident_start", utc(2026, 10, 20, 12, 0, 0), update(**SYSTEM)),
    ("incident_after", utc(2026, 10, 20, 12, 0, 1), update()),
]
SEED_EDITS = {
    "holidays.csv": "holiday_date,holiday_name\n2026-10-07,Company day\n",
    "incidents.csv": (
        "incident_id,title,started_at,lookback_hours\n"
        "INC-1,Outage,2026-10-20T12:00:00Z,2\nINC-2,Slow,2026-10-06T16:00:00Z,\n"
    ),
    "approved_actors.csv": f"actor_id,actor_name,note,subdomain\n{ADMIN['actor_id']},Ada Tester,admin,\n",
}


# ----------------------------------------------------------------------------- the answers, in Python
def read_seed_csv(seeds_dir: Path, name: str) -> list[dict[str, str]]:
    with open(seeds_dir / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if any(value.strip() for value in row.values())]


# What Zendesk writes between the lines of one description: a newline (`\r\n` keeps a carriage
# return, dropped from the line), the two characters `\` `n` (some exports; `\r\n` spelled out the
# same way) and `<br>`, `<br/>`, `<br />` in any case.
LINE_BREAKS = re.compile(r"\n|\\r\\n|\\n|<[bB][rR] */?>")


def parse_changes(text: str, label: str | None) -> list[tuple[int, str, str, str]]:
    return [(number, attribute, old, new) for number, attribute, old, new, _ in parse_named_changes(text, label)]


def parse_named_changes(text: str, label: str | None) -> list[tuple[int, str, str, str, bool]]:
    """The `X changed from A to B` lines; the last item says whether the line names X (else X is the label)."""
    found = []
    lines = LINE_BREAKS.split(text)[:100]
    for number, raw in enumerate(lines, start=1):
        line = raw.replace("\r", "").strip(" ")
        prefixed = re.fullmatch(r"Changed from (.*?) to (.*)", line, flags=re.DOTALL)
        named = re.fullmatch(r"(.*?) changed from (.*?) to (.*)", line, flags=re.DOTALL)
        if prefixed:
            found.append((number, label, prefixed.group(1), prefixed.group(2), False))
        elif named:
            found.append((number, named.group(1).strip(" ") or label, named.group(2), named.group(3),
                          bool(named.group(1).strip(" "))))
    return found


# Zendesk's products with a team member role, as Admin Center and the audit log name them (help
# center: "About team member product roles and access", "Understanding WFM roles and permissions",
# "Understanding roles and permissions in Zendesk QA", "Understanding user roles for AI agents -
# Advanced"). Admin Center's newer names (Knowledge, Analytics, Voice) are the same products as
# Guide, Explore and Talk; the plain `Role` line is the user's Support role.
ROLE_PRODUCTS = {
    "": "Support", "support": "Support",
    "guide": "Guide", "knowledge": "Guide", "help center": "Guide",
    "explore": "Explore", "analytics": "Explore",
    "talk": "Talk", "voice": "Talk",
    "chat": "Chat", "live chat": "Chat", "messaging": "Chat",
    "sell": "Sell",
    "admin center": "Admin Center",
    "contact center": "Contact Center",
    "workforce management": "Workforce management", "wfm": "Workforce management",
    "qa": "QA", "quality assurance": "QA",
    "ai agents": "AI agents", "ai agents - advanced": "AI agents", "ai agents advanced": "AI agents",
}
# Admin roles in every product; Guide's legacy `Manager` is today's Guide Admin, Zendesk QA documents
# `Account manager` as equivalent to Admin, `Client admin` is the admin of AI agents - Advanced.
ADMIN_ROLES = {"admin", "administrator", "account owner", "owner", "client admin"}
ADMIN_ROLES_OF_PRODUCT = {"Guide": {"manager"}, "QA": {"account manager"}}


def role_line(attribute: str, old: str, new: str) -> tuple[str, str, str | None, str | None, bool, bool] | None:
    """(role_kind, product, old role, new role, grants admin, removes admin) of a named line, None if not a role."""
    kind = attribute.lower()
    if kind != "role" and not kind.endswith(" role"):
        return None
    words = attribute[: -len("role")].strip(" ")
    key = words.lower()
    if key.startswith("zendesk "):
        key = key[len("zendesk "):].strip(" ")
    product = ROLE_PRODUCTS.get(key, words)

    def role(value: str) -> str | None:
        return None if value.strip(" ").lower() == "not set" else value

    def is_admin(value: str | None) -> bool:
        name = (value or "").strip(" ").lower()
        return value is not None and (name in ADMIN_ROLES or name in ADMIN_ROLES_OF_PRODUCT.get(product, set()))

    before, after = role(old), role(new)
    return (kind, product, before, after, is_admin(after) and not is_admin(before),
            is_admin(before) and not is_admin(after))


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def minutes(clock: str) -> int:
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def expected_answers(records: list[dict[str, Any]], seeds_dir: Path, time_zone: str) -> dict[str, Any]:
    zone = ZoneInfo(time_zone)
    hours: dict[int, list[tuple[int, int]]] = {}
    for row in read_seed_csv(seeds_dir, "business_hours"):
        interval = (minutes(row["opens_at"]), minutes(row["closes_at"]))
        hours.setdefault(WEEKDAYS.index(row["weekday"].lower()) + 1, []).append(interval)
    holidays = {date.fromisoformat(row["holiday_date"]) for row in read_seed_csv(seeds_dir, "holidays")}
    rules = load_detection_rules()
    approved = {int(row["actor_id"]) for row in read_seed_csv(seeds_dir, "approved_actors")}
    incidents = [
        (row["incident_id"], datetime.fromisoformat(row["started_at"].replace("Z", "+00:00")), int(row["lookback_hours"] or 24))
        for row in read_seed_csv(seeds_dir, "incidents")
    ]
    answers: dict[str, Any] = {name: set() for name in (
        "stg", "off_hours", "rules", "sensitive", "roles", "incidents", "changes", "items", "unapproved",
        "business_hours")}
    answers["schedules"] = schedule_rows(records)
    business_hours = BusinessHours(records, hours)
    activity: Counter[tuple[Any, ...]] = Counter()
    by_item: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in records:
        created = record["created_at"]
        local = created.astimezone(zone).replace(tzinfo=None)
        raw = record.get("change_description")
        text = html.unescape(html.unescape(raw)) if raw is not None else None
        is_system = record.get("actor_id") == -1
        rid, label, source_type = record["id"], record.get("source_label"), record.get("source_type")
        answers["stg"].add((rid, time_zone, local, text, is_system))
        activity[(local.date(), record["subdomain"], record.get("actor_id"), record.get("actor_name"), record.get("action"))] += 1
        if not is_system:
            # The account's own schedule as it was then, else the seed (tests/schedule_answers.py).
            hours_source, schedule_id, _, record_hours = business_hours.of(record)
            reason = off_hours_reason(record_hours, holidays, local)
            if reason:
                answers["off_hours"].add((rid, reason))
                answers["business_hours"].add((rid, hours_source, schedule_id))
            if approved and record.get("actor_id") not in approved:
                answers["unapproved"].add(rid)
        if source_type in ("rule", "trigger", "automation", "macro", "view", "sla/policy"):
            kind, separator, name = (label or "").partition(": ")
            answers["rules"].add((rid, kind.lower(), name) if separator else (rid, source_type, label))
        for rule in rules:  # the Sigma rules, read by the independent evaluator (sigma_oracle.py)
            if matches(rule, record):
                answers["sensitive"].add((rid, rule.name, rule.level))
        for number, attribute, old, new, named in parse_named_changes(text or "", label):
            answers["changes"].add((rid, number, attribute, old, new))
            found = role_line(attribute, old, new) if named and source_type == "user" else None
            if found:
                answers["roles"].add((rid, number, record.get("source_id"), label, *found, record.get("actor_id")))
        for incident_id, started_at, lookback in incidents:
            if started_at - timedelta(hours=lookback) <= created <= started_at:
                seconds = int((started_at - created).total_seconds())
                answers["incidents"].add((incident_id, rid, seconds, seconds // 60))
        if record.get("source_id") is not None and record.get("action") not in ("login", "exported"):
            by_item.setdefault((record["subdomain"], source_type, record["source_id"]), []).append(record)
    for item_records in by_item.values():
        previous = None
        for number, record in enumerate(sorted(item_records, key=lambda r: (r["created_at"], r["id"])), start=1):
            answers["items"].add((
                record["id"], number,
                previous["created_at"] if previous else None,
                previous.get("actor_id") if previous else None,
            ))
            previous = record
    answers["activity"] = set(activity.items())
    return answers


MODEL_QUERIES = {
    "stg": "select id, time_zone, created_at_local, change_description_text, is_system from {m}.stg_audit_logs",
    "off_hours": "select audit_log_id, off_hours_reason from {m}.off_hours_changes",
    "rules": "select audit_log_id, rule_kind, rule_name from {m}.rule_changes",
    "sensitive": "select audit_log_id, rule_id, severity from {m}.sensitive_changes",
    "roles": (
        "select audit_log_id, line_number, user_id, user_name, role_kind, product, old_role, new_role, grants_admin, "
        "removes_admin, actor_id from {m}.user_role_history"
    ),
    "incidents": "select incident_id, audit_log_id, seconds_before_incident, minutes_before_incident from {m}.incident_changes",
    "changes": "select audit_log_id, line_number, attribute, old_value, new_value from {m}.audit_log_changes",
    "items": "select audit_log_id, change_number, previous_changed_at, previous_actor_id from {m}.item_history",
    "unapproved": "select audit_log_id from {m}.unapproved_actor_changes",
    "activity": "select activity_date, subdomain, actor_id, actor_name, action, changes from {m}.actor_activity_daily",
    "schedules": (
        "select subdomain, schedule_id, version_number, weekday, interval_number, audit_log_id, schedule_name, "
        "opens_at_minute, closes_at_minute, valid_from, valid_to from {m}.schedule_history"
    ),
    "business_hours": (
        "select audit_log_id, business_hours_source, business_hours_schedule_id from {m}.off_hours_changes"
    ),
}


def normalise(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def actual_answers(query: Any, models_schema: str, where: str = "") -> dict[str, Any]:
    """The models' rows in the shape of `expected_answers` (`where`: a filter added to each query)."""
    answers: dict[str, Any] = {}
    for name, sql in MODEL_QUERIES.items():
        rows = [tuple(normalise(value) for value in row) for row in query(sql.format(m=models_schema) + where)]
        if name == "unapproved":
            answers[name] = {row[0] for row in rows}
        elif name == "activity":
            answers[name] = {(row[:-1], row[-1]) for row in rows}
        else:
            answers[name] = set(rows)
        assert len(rows) == len(answers[name]), f"{name}: duplicate rows"
    return answers


def assert_same_answers(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name in MODEL_QUERIES:
        missing = sorted(map(repr, expected[name] - actual[name]))[:5]
        extra = sorted(map(repr, actual[name] - expected[name]))[:5]
        assert not missing and not extra, f"{name}: missing {missing}, unexpected {extra}"


# ----------------------------------------------------------------------------- fixtures
def _postgres_reachable() -> bool:
    if "ZENDESK_AUDIT_TEST_POSTGRES" in os.environ:
        return True
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _drop_postgres_schemas(dataset: str) -> None:
    import psycopg2

    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        for schema in (dataset, f"{dataset}_models", f"{dataset}_staging"):
            cursor.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture(scope="module")
def known_data() -> Iterator[dict[str, Any]]:
    """A sandbox with 150 seeded records plus the hand-made CASES, and seeds that use them."""
    with Sandbox(records=150, seed=7) as sandbox:
        ids: dict[str, int] = {}
        for name, created_at, fields in CASES:
            ids[name] = sandbox.append(1, created_at=created_at, **fields)[0]["id"]
        records = []
        for record in sandbox.records():
            record = dict(record)
            record["created_at"] = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
            record["subdomain"] = sandbox.config.subdomain
            records.append(record)
        yield {"sandbox": sandbox, "records": records, "ids": ids}


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seeds")
    for path in (SQL_DIR / "seeds").glob("*.csv"):
        shutil.copy(path, folder / path.name)
    for name, text in SEED_EDITS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, known_data: dict[str, Any], seeds_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The known data loaded and the models built once per engine."""
    destination = request.param
    dataset = f"zt_models_{uuid.uuid4().hex[:8]}"
    path = tmp_path_factory.mktemp(destination) / "audit.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        if destination == "postgres":
            if not _postgres_reachable():
                pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432: start it (pg_ctlcluster <version> main start) "
                            "or set ZENDESK_AUDIT_TEST_POSTGRES=postgresql://user@host:port/db")
            patch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES_URL)
        try:
            result = load_sandbox(known_data["sandbox"], duckdb_path=path, destination=destination, dataset=dataset)
            assert result.records_loaded == len(known_data["records"])
            pipeline = create_pipeline(destination, dataset, duckdb_path=str(path))
            build = build_models(pipeline, seeds_dir=seeds_dir)
            yield {"pipeline": pipeline, "dataset": dataset, "build": build, "path": path, "destination": destination}
        finally:
            if destination == "postgres":
                _drop_postgres_schemas(dataset)


def query_on(pipeline: Any) -> Any:
    def run(sql: str) -> list[tuple[Any, ...]]:
        with open_engine(pipeline) as engine:
            return engine.query(sql)

    return run


# ----------------------------------------------------------------------------- known answers
def test_every_model_gives_the_known_answers(built: dict[str, Any], known_data: dict[str, Any], seeds_dir: Path) -> None:
    assert len(built["build"].built) == len(model_names())
    expected = expected_answers(known_data["records"], seeds_dir, "Europe/Paris")
    assert all(expected[name] for name in MODEL_QUERIES), "every model has rows to compare"
    actual = actual_answers(query_on(built["pipeline"]), f"{built['dataset']}_models")
    assert_same_answers(actual, expected)


def test_the_hand_made_edges(built: dict[str, Any], known_data: dict[str, Any]) -> None:
    """The same answers, spelled out, so a wrong reference cannot hide a wrong model."""
    ids = known_data["ids"]
    actual = actual_answers(query_on(built["pipeline"]), f"{built['dataset']}_models")
    reasons = dict(actual["off_hours"])
    assert reasons.get(ids["weekend"]) == "weekend"
    assert reasons.get(ids["before_hours"]) == "before_hours"
    assert reasons.get(ids["closing"]) == "after_hours"
    assert reasons.get(ids["holiday"]) == "holiday"
    assert reasons.get(ids["after_dst"]) == "before_hours"
    for inside in ("opening", "last_second", "system_weekend"):
        assert ids[inside] not in reasons
    text = {row[0]: row[3] for row in actual["stg"]}
    assert text[ids["double_escaped"]] == (
        'Workweek changed from {:mon=>{"09:00"=>"17:00"}} to {:mon=>{"08:00"=>"18:00"}}'
    )
    assert text[ids["trigger"]] == 'description changed from not set to Tom & "Jerry"'
    roles = {(row[0], row[4], row[6], row[7]) for row in actual["roles"]}
    assert (ids["role_lines"], "role", "Agent", "Administrator") in roles
    assert (ids["support_role"], "support role", "Light Agent", "Admin") in roles
    # (line, role_kind, product, old, new, grants_admin, removes_admin) of each role line, by record.
    by_record: dict[int, set[tuple[Any, ...]]] = {}
    for row in actual["roles"]:
        by_record.setdefault(row[0], set()).add((row[1], *row[4:10]))
    assert by_record[ids["role_lines"]] == {(1, "role", "Support", "Agent", "Administrator", True, False)}
    assert by_record[ids["product_roles"]] == {
        (1, "explore role", "Explore", None, "Admin", True, False),
        (2, "guide role", "Guide", None, "Manager", True, False),
        (3, "talk role", "Talk", "Agent", None, False, False),
        (4, "support role", "Support", "Staff", None, False, False),
    }
    assert by_record[ids["spelled_out_breaks"]] == {
        (1, "support role", "Support", "Admin", "Advisor", False, True),
        (2, "chat role", "Chat", None, "Agent", False, False),
        (3, "sell role", "Sell", "Admin", None, False, True),
    }
    assert by_record[ids["br_breaks"]] == {
        (1, "role", "Support", "End User", "Administrator", True, False),
        (2, "admin center role", "Admin Center", None, "Admin", True, False),
        (3, "contact center role", "Contact Center", None, "Agent", False, False),
        (4, "workforce management role", "Workforce management", "Agent", "Admin", True, False),
    }
    assert by_record[ids["escaped_br_breaks"]] == {
        (1, "knowledge role", "Guide", "Viewer", "Admin", True, False),
        (2, "voice role", "Talk", "Lead", "Admin", True, False),
        (3, "analytics role", "Explore", "Editor", "Viewer", False, False),
    }
    assert by_record[ids["admin_renamed"]] == {
        (1, "support role", "Support", "Admin", "Administrator", False, False),
        (2, "zendesk qa role", "QA", None, "Account manager", True, False),
        (3, "ai agents - advanced role", "AI agents", "Client user", "Client admin", True, False),
        (4, "marketplace role", "Marketplace", None, "Admin", True, False),
        (5, "support role", "Support", "Advisor", "Admin", True, False),
    }
    # The same lines, split the same way, in audit_log_changes (`not set` stays as written there).
    assert (ids["spelled_out_breaks"], 3, "Sell role", "Admin", "not set") in actual["changes"]
    assert (ids["escaped_br_breaks"], 3, "Analytics role", "Editor", "Viewer") in actual["changes"]
    assert not any(row[0] == ids["role_lines"] and row[1] == 2 for row in actual["roles"])  # the Group line
    assert (ids["role_lines"], 2, "Group", "Tier 1", "Tier 2") in actual["changes"]
    assert (ids["assumption"], 1, "Account assumption", "Off", "1 week") in actual["changes"]
    assert (ids["trigger"], "trigger", "Notify: requester") in actual["rules"]
    assert (ids["sla"], "sla policy", "Gold") in actual["rules"]
    assert (ids["plain_macro"], "macro", "Plain macro") in actual["rules"]
    sensitive = {(row[0], row[1]) for row in actual["sensitive"]}
    for case, rule in (("api_token", "api_token_created"), ("two_factor", "two_factor_disabled"),
                       ("card_redaction", "credit_card_redaction_disabled"), ("owner", "account_owner_changed"),
                       ("assumption", "account_assumption_changed"), ("export", "data_exported"),
                       ("support_role", "role_changed_to_admin"), ("role_lines", "role_changed_to_admin"),
                       ("double_escaped", "business_hours_changed"), ("apitoken_created", "api_token_created"),
                       ("apitoken_changed", "api_token_changed"), ("apitoken_deleted", "api_token_deleted")):
        assert (ids[case], rule) in sensitive, (case, rule)
    for case in ("apitoken_created", "apitoken_changed", "apitoken_deleted"):
        assert [row[1] for row in sensitive if row[0] == ids[case]] == [case.replace("apitoken", "api_token")]
    sign_ins = {ids["sign_in_google"], ids["sign_in_jwt"], ids["login"]}
    for name in ("roles", "changes", "sensitive", "items"):
        assert not sign_ins & {row[0] for row in actual[name]}, f"a sign-in in {name}"
    assert {row[0] for row in actual["roles"] if row[2] == USER["source_id"]} == {ids[case] for case in (
        "role_lines", "support_role", "product_roles", "spelled_out_breaks", "br_breaks", "escaped_br_breaks",
        "admin_renamed")}
    assert reasons.get(ids["sign_in_jwt"]) == "after_hours"  # 20:30 in Paris: an off-hours sign-in still counts
    incident = {(row[0], row[1]): (row[2], row[3]) for row in actual["incidents"]}
    assert incident[("INC-1", ids["incident_first"])] == (7200, 120)
    assert incident[("INC-1", ids["incident_mid"])] == (1770, 29)
    assert incident[("INC-1", ids["incident_start"])] == (0, 0)
    assert ("INC-1", ids["incident_too_early"]) not in incident and ("INC-1", ids["incident_after"]) not in incident
    assert ids["weekend"] not in actual["unapproved"] and ids["closing"] in actual["unapproved"]
    assert ids["system_weekend"] not in actual["unapproved"]


def test_the_model_checks_pass(built: dict[str, Any]) -> None:
    assert check_models(built["pipeline"]) == []


def test_demo_lines_read_the_views(built: dict[str, Any]) -> None:
    lines = demo_lines(built["pipeline"])
    assert lines[0].startswith("off-hours changes by people: ")
    assert any(line.startswith("sensitive changes by severity: critical") for line in lines)
    assert "latest role changes:" in lines


def test_a_second_build_rebuilds_nothing(built: dict[str, Any], seeds_dir: Path) -> None:
    again = build_models(built["pipeline"], seeds_dir=seeds_dir)
    assert again.built == [] and again.refreshed == [] and again.seeds_loaded == []
    assert again.summary_line().startswith(f"models: 0 built, 0 refreshed, {len(model_names())} unchanged in schema ")
    assert {status.state for status in model_status(built["pipeline"], seeds_dir=seeds_dir)} == {"up to date"}


def test_after_a_build_the_checked_seeds_are_still_the_csv_files_dbt_loaded(built: dict[str, Any]) -> None:
    """dbt writes a seed's SQL over its CSV file when the seeds lie outside the project (dbt-core
    #7373): the build writes them again, so the folder holds what dbt loads."""
    folder = Path(built["pipeline"].working_dir) / "dbt" / "seeds"
    written = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.csv")}
    assert set(written) == {f"{name}.csv" for name in built["build"].seeds_loaded}
    for name, text in written.items():
        rows = list(csv.reader(text.splitlines()))
        assert "COPY" not in text and "create table" not in text, name
        assert rows and all(len(row) == len(rows[0]) for row in rows), name


def _copy_sql(tmp_path: Path, seeds_dir: Path) -> Path:
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    shutil.rmtree(copy / "seeds")
    shutil.copytree(seeds_dir, copy / "seeds")
    return copy


def _descendants(name: str) -> set[str]:
    """The models that read `name`, directly or through others (from the SQL's ref() calls)."""
    sources = {path.stem: path.read_text() for path in (SQL_DIR / "models").glob("*/*.sql")}
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for model, text in sources.items():
            reads = set(re.findall(r"ref\('([a-z_]+)'\)", text))
            if model not in found and (name in reads or reads & found):
                found.add(model)
                changed = True
    return found


def test_a_changed_model_rebuilds_it_and_what_reads_it(built: dict[str, Any], seeds_dir: Path, tmp_path: Path) -> None:
    sql_dir = _copy_sql(tmp_path, seeds_dir)
    path = sql_dir / "models" / "marts" / "item_history.sql"
    path.write_text(path.read_text() + "\n-- a comment is a change too\n")
    statuses = {status.name: status for status in model_status(built["pipeline"], sql_dir=sql_dir)}
    assert statuses["item_history"].state == "outdated"
    assert (statuses["item_history"].file_version, statuses["item_history"].built_version) == (1, 1)
    assert {name for name, status in statuses.items() if status.state != "up to date"} == {"item_history"}
    result = build_models(built["pipeline"], sql_dir=sql_dir)
    assert result.built == ["item_history"]
    assert result.models[[m.name for m in result.models].index("item_history")].reason == "sql, seed or settings changed"
    assert build_models(built["pipeline"], sql_dir=sql_dir).built == []
    # Back to the project's files: item_history is rebuilt once more.
    assert build_models(built["pipeline"], seeds_dir=seeds_dir).built == ["item_history"]


def test_a_new_column_in_staging_rebuilds_every_model_that_reads_it(
    built: dict[str, Any], seeds_dir: Path, tmp_path: Path
) -> None:
    """PostgreSQL refuses `create or replace view` when columns move; dbt swaps relations instead,
    and every model that reads staging is rebuilt with it."""
    sql_dir = _copy_sql(tmp_path, seeds_dir)
    path = sql_dir / "models" / "staging" / "stg_audit_logs.sql"
    columns = "        id,\n        subdomain,"
    path.write_text(path.read_text().replace(columns, columns.replace("id,", "id,\n        1 as row_marker,"), 1))
    result = build_models(built["pipeline"], sql_dir=sql_dir)
    assert result.built[0] == "stg_audit_logs"
    assert set(result.built) == {"stg_audit_logs"} | _descendants("stg_audit_logs")
    reasons = {outcome.name: outcome.reason for outcome in result.models if outcome.action == "built"}
    assert reasons.pop("stg_audit_logs") == "sql, seed or settings changed"
    assert all(reason.startswith("a parent changed (") for reason in reasons.values()), reasons
    schema = f"{built['dataset']}_models"
    query = query_on(built["pipeline"])
    assert query(f"select count(*) from {schema}.stg_audit_logs where row_marker = 1")[0][0] > 0
    assert {status.state for status in model_status(built["pipeline"], sql_dir=sql_dir)} == {"up to date"}
    restored = build_models(built["pipeline"], seeds_dir=seeds_dir)
    assert "stg_audit_logs" in restored.built
    assert check_models(built["pipeline"]) == []


@pytest.mark.parametrize("built", ["duckdb"], indirect=True)
def test_time_zone_override_and_fallbacks(built: dict[str, Any], known_data: dict[str, Any], seeds_dir: Path) -> None:
    pipeline, schema, ids = built["pipeline"], f"{built['dataset']}_models", known_data["ids"]
    result = build_models(pipeline, time_zone="America/New_York", seeds_dir=seeds_dir)
    assert set(result.built) == set(model_names()) and result.time_zone == "America/New_York"
    query = query_on(pipeline)
    assert query(f"select distinct time_zone from {schema}.stg_audit_logs") == [("America/New_York",)]
    expected = expected_answers(known_data["records"], seeds_dir, "America/New_York")
    assert set(query(f"select audit_log_id, off_hours_reason from {schema}.off_hours_changes")) == expected["off_hours"]
    # 08:59:59 in Paris is 02:59:59 in New York: still before hours; 18:00 Paris is noon there.
    assert ids["closing"] not in {row[0] for row in expected["off_hours"]}
    with pytest.raises(ConfigurationError, match="unknown time zone 'Mars/Base'"):
        build_models(pipeline, time_zone="Mars/Base", seeds_dir=seeds_dir)
    assert set(build_models(pipeline, seeds_dir=seeds_dir).built) == set(model_names())


def test_without_accounts_local_times_are_utc(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=30, seed=3)
    path = tmp_path / "audit.duckdb"
    load_sandbox(sandbox, duckdb_path=path, dataset="no_accounts")
    pipeline = create_pipeline("duckdb", "no_accounts", duckdb_path=str(path))
    with open_engine(pipeline) as engine:
        engine.execute("drop table no_accounts.accounts")
    result = build_models(pipeline)
    assert result.time_zone == "UTC"
    rows = query_on(pipeline)(
        "select distinct time_zone, count(*) filter (where created_at_local <> "
        "cast(created_at at time zone 'UTC' as timestamp)) from no_accounts_models.stg_audit_logs group by 1"
    )
    assert rows == [("UTC", 0)]


def test_a_failing_model_keeps_its_rows_and_the_others_build(built: dict[str, Any], seeds_dir: Path, tmp_path: Path) -> None:
    sql_dir = _copy_sql(tmp_path, seeds_dir)
    schema = f"{built['dataset']}_models"
    query = query_on(built["pipeline"])
    before = query(f"select count(*) from {schema}.rule_changes")[0][0]
    history = sql_dir / "models" / "marts" / "item_history.sql"
    history.write_text(history.read_text() + "\n-- changed\n")
    rules = sql_dir / "models" / "marts" / "rule_changes.sql"
    rules.write_text(rules.read_text().replace("select * from named", "select no_such_column from named"))
    with pytest.raises(ModelBuildError) as caught:
        build_models(built["pipeline"], sql_dir=sql_dir)
    message = str(caught.value)
    where = "sql/models/marts/rule_changes.sql (version 1)"
    assert "\n" not in message and message.startswith(f"{where} failed on {built['destination']}: ")
    assert message.endswith("it keeps its previous rows")
    assert query(f"select count(*) from {schema}.rule_changes")[0][0] == before
    statuses = {status.name: status for status in model_status(built["pipeline"], sql_dir=sql_dir)}
    assert statuses["item_history"].state == "up to date" and statuses["rule_changes"].state == "outdated"
    assert build_models(built["pipeline"], seeds_dir=seeds_dir).built == ["item_history"]  # rule_changes kept its build


# ----------------------------------------------------------------------------- seeds
BAD_SEEDS = [
    ("business_hours.csv", "weekday,opens_at,closes_at\nmonday,09:00,18:00\nfunday,09:00,18:00\n",
     "business_hours.csv:3: unknown weekday 'funday' (use monday .. sunday)"),
    ("business_hours.csv", "weekday,opens_at,closes_at\nmonday,9am,18:00\n",
     "business_hours.csv:2: bad time '9am' (use HH:MM, 00:00 .. 24:00)"),
    ("business_hours.csv", "weekday,opens_at,closes_at\nmonday,18:00,09:00\n",
     "business_hours.csv:2: opens_at 18:00 is not before closes_at 09:00"),
    ("holidays.csv", "holiday_date,holiday_name\n2026-12-25,Christmas\n2026-13-01,Nope\n",
     "holidays.csv:3: bad date '2026-13-01' (use YYYY-MM-DD)"),
    ("incidents.csv", "incident_id,title,started_at,lookback_hours\nINC-1,x,yesterday,\n",
     "incidents.csv:2: bad time 'yesterday' (use ISO 8601 in UTC, e.g. 2026-10-30T14:00:00Z)"),
    ("incidents.csv", "incident_id,title,started_at,lookback_hours\nINC-1,x,2026-10-30T14:00:00Z,-3\n",
     "incidents.csv:2: -3 must be greater than 0"),
    ("severities.csv", "severity,severity_rank\nlow,-1\n", "severities.csv:2: -1 must be 0 or more"),
    ("approved_actors.csv", "actor_id,actor_name,note\n12,a,\n12,b,\n", "approved_actors.csv:3: actor_id 12 repeats line 2"),
    ("approved_actors.csv", "actor_id,nickname\n1,a\n",
     "approved_actors.csv:1: unknown column 'nickname' (expected actor_id, actor_name, note, subdomain)"),
]


@pytest.mark.parametrize("name,text,message", BAD_SEEDS, ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD_SEEDS)])
def test_a_bad_seed_row_fails_with_file_line_and_reason(tmp_path: Path, name: str, text: str, message: str) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SQL_DIR / "seeds", seeds)
    (seeds / name).write_text(text, encoding="utf-8")
    pipeline = create_pipeline("duckdb", "never_touched", duckdb_path=str(tmp_path / "never.duckdb"))
    with pytest.raises(SeedError) as caught:
        build_models(pipeline, seeds_dir=seeds)
    assert str(caught.value).endswith(message) and "\n" not in str(caught.value)
    assert str(caught.value).startswith(str(seeds / name)) or str(caught.value).startswith(f"seeds/{name}")
    assert not (tmp_path / "never.duckdb").exists()  # validated before any database is opened


@pytest.mark.parametrize("built", ["duckdb"], indirect=True)
def test_the_cli_prints_one_line_and_exit_2_for_a_bad_seed(built: dict[str, Any], tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SQL_DIR / "seeds", seeds)
    (seeds / "business_hours.csv").write_text("weekday,opens_at,closes_at\nmonday,25:00,26:00\n")
    result = CliRunner().invoke(models_group, ["build", "--duckdb-path", str(built["path"]), "--dataset",
                                               built["dataset"], "--seeds-dir", str(seeds)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {seeds}/business_hours.csv:2: bad time '25:00' (use HH:MM, 00:00 .. 24:00)"
    ]


# ----------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("built", ["duckdb"], indirect=True)
def test_models_cli_build_and_status(built: dict[str, Any], seeds_dir: Path) -> None:
    runner = CliRunner()
    options = ["--duckdb-path", str(built["path"]), "--dataset", built["dataset"]]
    result = runner.invoke(models_group, ["build", *options, "--seeds-dir", str(seeds_dir), "--json"], catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.output)["built"] == []
    result = runner.invoke(models_group, ["status", *options, "--seeds-dir", str(seeds_dir)], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["model", "layer", "file", "built", "state"]
    assert any(line.split()[:5] == ["stg_audit_logs", "staging", "-", "-", "up"] for line in lines)
    assert any(line.split()[:5] == ["off_hours_changes", "marts", "2", "2", "up"] for line in lines)
    missing = runner.invoke(models_group, ["status", "--duckdb-path", str(built["path"]) + ".missing"])
    assert missing.exit_code == 2 and missing.output.startswith("error: no DuckDB file at ")


def test_every_models_command_has_help_with_an_example_and_is_in_the_docs() -> None:
    """The README names the models commands; docs/models.md (the SQL models page) explains each."""
    runner = CliRunner()
    assert "zendesk-audit models" in README.read_text(encoding="utf-8")
    page = MODELS_PAGE.read_text(encoding="utf-8")
    for args in ([], ["build"], ["status"]):
        result = runner.invoke(models_group, [*args, "--help"])
        assert result.exit_code == 0
        examples = [line.strip() for line in result.output.splitlines() if line.strip().startswith("Example:")]
        assert examples and examples[0].startswith("Example: zendesk-audit models"), args
        if args:
            assert f"zendesk-audit models {args[0]}" in page
