"""The detections compiled to SQL (models/detection_sql.py) against an independent reading of the rules.

Known answers come from tests/sigma_oracle.py (plain Python over the records the sandbox served),
never from the compiled SQL. Three levels:

- the compiler's conditions run directly on DuckDB and PostgreSQL (and Spark, in
  tests/test_spark.py) over rows with the hard values: `%`, `_`, `\\`, quotes, nulls, several lines, numbers;
- every case of tests/data/detection_cases.yml goes through the sandbox (real HTTP), the load and
  `models build`: each positive record fires its rule, no negative fires it, none is rejected, and
  `sensitive_changes` equals the oracle over every record;
- a team's folder (`--detections-dir`): a dropped rule appears after the next build, a changed rule
  rebuilds `sensitive_changes` in full, and an incremental refresh equals a full build.
"""
from __future__ import annotations

import html
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sigma_oracle import matches
from test_sql_models import _postgres_reachable, normalise, query_on

from conftest import POSTGRES_URL, load_sandbox
from zendesk_audit.cli.commands import cli
from zendesk_audit.cli.models import models_group
from zendesk_audit.errors import SeedError
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models, model_status
from zendesk_audit.models.detection_rules import (
    FIELDS,
    PORTABLE_MODIFIERS,
    DetectionRule,
    DetectionRuleError,
    load_detection_rules,
)
from zendesk_audit.models.detection_sql import SHIPPED_MACRO, SHIPPED_SEED, compile_rules, shipped_files
from zendesk_audit.settings import SQL_DIR
from zendesk_sandbox import Sandbox

UTC = timezone.utc
CASES_FILE = Path(__file__).parent / "data" / "detection_cases.yml"
CASES: list[dict[str, Any]] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def rule_yaml(name: str, detection: dict[str, Any], level: str = "high", tags: list[str] | None = None) -> str:
    document = {
        "title": name.replace("_", " ").capitalize(),
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "name": name,
        "status": "test",
        "tags": tags or ["attack.persistence", "attack.t1098"],
        "logsource": {"product": "zendesk", "service": "audit_log"},
        "detection": detection,
        "level": level,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


# ----------------------------------------------------------------------------- the compiler on its own
def test_the_generated_macro_and_seed_are_up_to_date() -> None:
    """Plain dbt reads them; `python -m zendesk_audit.models.detection_sql` rewrites them."""
    files = shipped_files()
    assert set(files) == {SHIPPED_MACRO, SHIPPED_SEED}
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, f"{path}: run python -m zendesk_audit.models.detection_sql"


def test_every_shipped_rule_compiles_for_every_engine() -> None:
    rules = load_detection_rules()
    assert {rule.name for rule in rules} >= {"role_changed_to_admin", "two_factor_disabled", "api_token_created"}
    for dialect in ("duckdb", "postgres", "spark", "databricks", "snowflake", "bigquery"):
        compiled = compile_rules(rules, dialect)
        assert [rule.rule_id for rule in compiled] == [rule.name for rule in rules]
        assert all(rule.condition.startswith("(") and "\n" not in rule.condition for rule in compiled)


UNSUPPORTED = [
    ({"selection": {"ip_address|cidr": "10.0.0.0/8"}, "condition": "selection"}, ("ip_address", "cidr")),
    ({"selection": {"actor_name|fieldref": "source_label"}, "condition": "selection"}, ("actor_name", "fieldref")),
    ({"keywords": ["admin"], "condition": "keywords"}, ("keyword",)),
]


@pytest.mark.parametrize("detection,named", UNSUPPORTED, ids=["cidr", "fieldref", "keywords"])
def test_an_unsupported_sigma_feature_fails_in_one_line_naming_file_and_modifier(
    tmp_path: Path, detection: dict[str, Any], named: tuple[str, ...]
) -> None:
    """The reader refuses what does not compile to SQL (the compiler would too), before any build."""
    path = tmp_path / "odd_rule.yml"
    path.write_text(rule_yaml("odd_rule", detection), encoding="utf-8")
    with pytest.raises(DetectionRuleError) as caught:
        compile_rules(load_detection_rules([tmp_path], include_default=False), "duckdb")
    message = str(caught.value)
    assert message.startswith(f"{path}: detection: ") and "\n" not in message
    assert all(word in message for word in named), message


# Rules over the hard values; each is checked on the engines against the oracle.
EDGE_RULES: dict[str, dict[str, Any]] = {
    "percent_underscore": {"selection": {"source_label|contains": "50%_off"}, "condition": "selection"},
    "quote_and_backslash": {"selection": {"source_label|contains": ["it's", "C:\\dir"]}, "condition": "selection"},
    "sigma_wildcards": {"selection": {"source_label": "api*tok?n"}, "condition": "selection"},
    "cased": {"selection": {"source_label|cased": "Admin"}, "condition": "selection"},
    "endswith": {"selection": {"source_label|endswith": ".EXE"}, "condition": "selection"},
    "regex_case_and_lines": {"selection": {"change_description|re": "(?i)^role changed from .* to [^\\n]*admin"},
                             "condition": "selection"},
    "regex_dot_stops_at_newline": {"selection": {"change_description|re": "ADMIN.*Group"}, "condition": "selection"},
    "regex_dotall": {"selection": {"change_description|re|s": "ADMIN.*Group"}, "condition": "selection"},
    "regex_multiline": {"selection": {"change_description|re|m": "^Group changed"}, "condition": "selection"},
    "regex_digits": {"selection": {"source_label|re": "token \\d{3}$"}, "condition": "selection"},
    "not_with_null": {"selection": {"action": "update"}, "filter": {"ip_address|startswith": "10."},
                      "condition": "selection and not filter"},
    "number": {"selection": {"actor_id": -1}, "condition": "selection"},
    "number_compare": {"selection": {"source_id|gte": 500}, "condition": "selection"},
    "number_in_text": {"selection": {"source_label": 2024}, "condition": "selection"},
    "exists_false": {"selection": {"ip_address|exists": False}, "condition": "selection"},
    "null_value": {"selection": {"change_description": None}, "condition": "selection"},
    "boolean": {"selection": {"is_system": True}, "condition": "selection"},
    "all_of_list": {"selection": {"change_description|contains|all": ["owner", "changed"]}, "condition": "selection"},
    "one_of": {"selection_a": {"action": "exported"}, "selection_b": {"source_type|startswith": "zendesk/business_hours/"},
               "condition": "1 of selection_*"},
    "id_field": {"selection": {"id": 3}, "condition": "selection"},
}

EDGE_RECORDS: list[dict[str, Any]] = [
    {"id": 1, "action": "update", "source_type": "promo", "source_id": 10, "source_label": "50%_off today",
     "change_description": "Role changed from Agent to Administrator", "actor_id": 5, "ip_address": "81.1.1.1"},
    {"id": 2, "action": "update", "source_type": "promo", "source_id": 11, "source_label": "50x off today",
     "change_description": "role CHANGED from agent to ADMIN\nGroup changed from Tier 1 to Tier 2", "actor_id": 5,
     "ip_address": None},
    {"id": 3, "action": "create", "source_type": "api_token", "source_id": 600, "source_label": "api token 123",
     "change_description": None, "actor_id": -1, "ip_address": None},
    {"id": 4, "action": "update", "source_type": "zendesk/business_hours/workweek", "source_id": 700,
     "source_label": "it's C:\\dir\\file.exe", "change_description": "Owner changed from A to B", "actor_id": 6,
     "ip_address": "10.0.0.1"},
    {"id": 5, "action": "exported", "source_type": None, "source_id": None, "source_label": "Admin",
     "change_description": "Role changed from Admin to Agent\nNotes changed from a to admin", "actor_id": 7,
     "ip_address": "10.2.2.2"},
    {"id": 6, "action": None, "source_type": "user", "source_id": 499, "source_label": "admin",
     "change_description": "changed the owner &amp;amp; more", "actor_id": None, "ip_address": "85.1.1.1"},
    {"id": 7, "action": "update", "source_type": "user", "source_id": 1, "source_label": "2024",
     "change_description": "", "actor_id": 8, "ip_address": "10.9.9.9"},
    {"id": 8, "action": "UPDATE", "source_type": "apitoken", "source_id": 2, "source_label": "apitokxn",
     "change_description": "x", "actor_id": 9, "ip_address": "8.8.8.8"},
]

_COLUMN_TYPES = {"audit_log_id": "bigint", "actor_id": "bigint", "source_id": "bigint", "is_system": "boolean",
                 "created_at": "timestamp with time zone"}


def _edge_rules(tmp_path: Path) -> list[DetectionRule]:
    folder = tmp_path / "edge-rules"
    folder.mkdir()
    for name, detection in EDGE_RULES.items():
        (folder / f"{name}.yml").write_text(rule_yaml(name, detection), encoding="utf-8")
    return load_detection_rules([folder], include_default=False)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    raw = record.get("change_description")
    row = {column: record.get(field) for field, column in FIELDS.items()}
    row.update(audit_log_id=record["id"], created_at=START, is_system=None if record.get("actor_id") is None
               else record["actor_id"] == -1,
               change_description_text=html.unescape(html.unescape(raw)) if raw is not None else None)
    return row


def _expected(rules: list[DetectionRule]) -> dict[str, set[int]]:
    return {rule.name: {record["id"] for record in EDGE_RECORDS if matches(rule, record)} for rule in rules}


def _check_edges(rules: list[DetectionRule], dialect: str, run: Any) -> None:
    expected = _expected(rules)
    # The oracle itself, spelled out for a few, so a wrong oracle cannot hide a wrong compiler.
    assert expected["percent_underscore"] == {1} and expected["sigma_wildcards"] == {8}
    assert expected["not_with_null"] == {1, 2, 8} and expected["regex_dot_stops_at_newline"] == set()
    assert expected["regex_dotall"] == {2} and expected["regex_multiline"] == {2}
    assert expected["regex_case_and_lines"] == {1, 2} and expected["cased"] == {5}
    for compiled in compile_rules(rules, dialect):
        found = {int(row[0]) for row in run(f"select audit_log_id from edge_rows where {compiled.condition}")}
        assert found == expected[compiled.rule_id], (dialect, compiled.rule_id, compiled.condition)


def test_the_conditions_on_duckdb_match_the_oracle(tmp_path: Path) -> None:
    import duckdb

    rules = _edge_rules(tmp_path)
    rows = [_row(record) for record in EDGE_RECORDS]
    columns = list(rows[0])
    with duckdb.connect() as connection:
        connection.execute("create table edge_rows (" + ", ".join(
            f"{name} {_COLUMN_TYPES.get(name, 'varchar')}" for name in columns) + ")")
        connection.executemany(f"insert into edge_rows values ({', '.join('?' for _ in columns)})",
                               [[row[name] for name in columns] for row in rows])
        _check_edges(rules, "duckdb", lambda sql: connection.execute(sql).fetchall())


@pytest.mark.postgres
def test_the_conditions_on_postgres_match_the_oracle(tmp_path: Path) -> None:
    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    import psycopg2

    rules = _edge_rules(tmp_path)
    rows = [_row(record) for record in EDGE_RECORDS]
    columns = list(rows[0])
    schema = f"zt_edges_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        try:
            cursor.execute(f"create schema {schema}")
            cursor.execute(f"set search_path to {schema}")
            cursor.execute("create table edge_rows (" + ", ".join(
                f"{name} {_COLUMN_TYPES.get(name, 'text')}" for name in columns) + ")")
            cursor.executemany(f"insert into edge_rows values ({', '.join('%s' for _ in columns)})",
                               [[row[name] for name in columns] for row in rows])

            def run(sql: str) -> list[tuple[Any, ...]]:
                cursor.execute(sql)
                return cursor.fetchall()

            _check_edges(rules, "postgres", run)
        finally:
            connection.rollback()
            cursor.execute(f"drop schema if exists {schema} cascade")
            connection.commit()


# ----------------------------------------------------------------------------- the cases, end to end
def _append_cases(sandbox: Any, cases: list[dict[str, Any]], start: datetime) -> dict[tuple[str, str, int], int]:
    """Each case record once, a minute apart; (rule, positive|negative, index) -> id."""
    ids: dict[tuple[str, str, int], int] = {}
    moment = start
    for case in cases:
        for kind in ("positive", "negative"):
            for index, fields in enumerate(case.get(kind) or []):
                fields = {"actor_id": 3_912_345_678_907, "actor_name": "Ada Tester", "ip_address": "81.2.3.4", **fields}
                ids[(case["rule"], kind, index)] = sandbox.append(1, created_at=moment, **fields)[0]["id"]
                moment += timedelta(minutes=1)
    return ids


def _records(sandbox: Any) -> list[dict[str, Any]]:
    return [dict(record) for record in sandbox.records()]


def _expected_rows(records: list[dict[str, Any]], rules: list[DetectionRule]) -> set[tuple[int, str, str]]:
    return {(record["id"], rule.name, rule.level) for record in records for rule in rules if matches(rule, record)}


def _sensitive(pipeline: Any) -> set[tuple[int, str, str]]:
    rows = query_on(pipeline)(f"select audit_log_id, rule_id, severity from {pipeline.dataset_name}_models.sensitive_changes")
    found = {tuple(normalise(value) for value in row) for row in rows}
    assert len(found) == len(rows), "duplicate rows in sensitive_changes"
    return found  # type: ignore[return-value]


def _check_cases(found: set[tuple[int, str, str]], ids: dict[tuple[str, str, int], int], records: list[dict[str, Any]],
                 rules: list[DetectionRule]) -> None:
    by_name = {rule.name: rule for rule in rules}
    by_id = {record["id"]: record for record in records}
    fired = {(row[0], row[1]) for row in found}
    for (rule, kind, index), record_id in ids.items():
        assert rule in by_name, f"{CASES_FILE.name}: no rule {rule!r}"
        assert matches(by_name[rule], by_id[record_id]) == (kind == "positive"), ("oracle", rule, kind, index)
        assert ((record_id, rule) in fired) == (kind == "positive"), (rule, kind, index)


@pytest.fixture(scope="module")
def case_sandbox() -> Iterator[dict[str, Any]]:
    with Sandbox(records=40, seed=25) as sandbox:
        ids = _append_cases(sandbox, CASES, START)
        yield {"sandbox": sandbox, "ids": ids, "records": _records(sandbox)}


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def case_build(request: pytest.FixtureRequest, case_sandbox: dict[str, Any],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    destination = request.param
    dataset = f"zt_detect_{uuid.uuid4().hex[:8]}"
    path = tmp_path_factory.mktemp(destination) / "audit.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        if destination == "postgres":
            if not _postgres_reachable():
                pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
            patch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES_URL)
        try:
            loaded = load_sandbox(case_sandbox["sandbox"], duckdb_path=path, destination=destination, dataset=dataset)
            pipeline = create_pipeline(destination, dataset, duckdb_path=str(path))
            yield {"pipeline": pipeline, "loaded": loaded, "build": build_models(pipeline)}
        finally:
            if destination == "postgres":
                import psycopg2

                with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
                    for schema in (dataset, f"{dataset}_models", f"{dataset}_staging"):
                        cursor.execute(f'drop schema if exists "{schema}" cascade')


def test_each_case_fires_its_rule_and_no_negative_does(case_build: dict[str, Any], case_sandbox: dict[str, Any]) -> None:
    records, rules = case_sandbox["records"], load_detection_rules()
    assert case_build["loaded"].records_loaded == len(records) and case_build["loaded"].records_rejected == 0
    found = _sensitive(case_build["pipeline"])
    _check_cases(found, case_sandbox["ids"], records, rules)
    assert found == _expected_rows(records, rules)


def test_the_mart_carries_each_rules_title_techniques_and_sigma_id(case_build: dict[str, Any]) -> None:
    schema = f"{case_build['pipeline'].dataset_name}_models"
    rows = query_on(case_build["pipeline"])(
        "select distinct rule_id, rule_title, mitre_techniques, sigma_id, severity, severity_rank "
        f"from {schema}.sensitive_changes"
    )
    ranks = {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
    rules = {rule.name: rule for rule in load_detection_rules()}
    assert len(rows) >= 10
    for rule_id, title, techniques, sigma_id, severity, rank in rows:
        rule = rules[rule_id]
        assert (title, sigma_id, severity, rank) == (rule.title, rule.sigma_id, rule.level, ranks[rule.level])
        assert techniques == (", ".join(rule.techniques) or None)


# ----------------------------------------------------------------------------- a team's folder
TEAM_RULE = {"selection": {"action": "login", "ip_address|startswith": "81."}, "condition": "selection"}


def test_a_team_rule_is_built_and_a_changed_rule_rebuilds_in_full(tmp_path: Path) -> None:
    team = tmp_path / "team-rules"
    team.mkdir()
    path = tmp_path / "audit.duckdb"
    with Sandbox(records=30, seed=5) as sandbox:
        sandbox.append(1, created_at=START, action="login", action_label="Signed in", source_type="user",
                       source_id=42, source_label="Lena", ip_address="81.9.9.9", change_description="")
        sandbox.append(1, created_at=START + timedelta(minutes=1), action="login", action_label="Signed in",
                       source_type="user", source_id=42, source_label="Lena", ip_address="85.9.9.9", change_description="")
        load_sandbox(sandbox, duckdb_path=path, dataset="team")
        pipeline = create_pipeline("duckdb", "team", duckdb_path=str(path))
        first = build_models(pipeline, detections_dir=team)  # an empty folder: the shipped rules only
        assert "sensitive_changes" in first.built
        # A dropped rule appears after the next build, and only sensitive_changes is rebuilt.
        (team / "sign_in_from_81.yml").write_text(rule_yaml("sign_in_from_81", TEAM_RULE, level="informational"))
        statuses = {status.name: status.state for status in model_status(pipeline, detections_dir=team)}
        assert statuses["sensitive_changes"] == "outdated"
        assert {name for name, state in statuses.items() if state != "up to date"} == {"sensitive_changes"}
        second = build_models(pipeline, detections_dir=team)
        assert second.built == ["sensitive_changes"] and "detection_rules" in second.seeds_loaded
        rules = load_detection_rules([team])
        assert _sensitive(pipeline) == _expected_rows(_records(sandbox), rules)
        assert any(row[1] == "sign_in_from_81" and row[2] == "informational" for row in _sensitive(pipeline))
        # The same rule with another condition: rebuilt in full from every record.
        changed = {"selection": {"action": "login", "ip_address|startswith": "85."}, "condition": "selection"}
        (team / "sign_in_from_81.yml").write_text(rule_yaml("sign_in_from_81", changed, level="informational"))
        third = build_models(pipeline, detections_dir=team)
        assert third.built == ["sensitive_changes"]
        assert [outcome.reason for outcome in third.models if outcome.name == "sensitive_changes"] == [
            "sql, seed or settings changed"]
        rules = load_detection_rules([team])
        assert _sensitive(pipeline) == _expected_rows(_records(sandbox), rules)
        # New records: the incremental refresh gives what a full build gives.
        sandbox.append(3, created_at=START + timedelta(hours=2), action="login", action_label="Signed in",
                       source_type="user", source_label="Otto", ip_address="85.1.2.3", change_description="")
        load_sandbox(sandbox, duckdb_path=path, dataset="team")
        refreshed = build_models(pipeline, detections_dir=team)
        assert "sensitive_changes" in refreshed.refreshed
        incremental = _sensitive(pipeline)
        assert incremental == _expected_rows(_records(sandbox), rules)
        build_models(pipeline, detections_dir=team, full_refresh=True)
        assert _sensitive(pipeline) == incremental
        # Without the folder the team's rule leaves the mart again.
        build_models(pipeline)
        assert not any(row[1] == "sign_in_from_81" for row in _sensitive(pipeline))


def test_a_bad_team_rule_fails_the_cli_in_one_line_before_anything_is_built(tmp_path: Path) -> None:
    team = tmp_path / "team-rules"
    team.mkdir()
    bad = team / "bad.yml"
    bad.write_text(rule_yaml("bad_rule", {"selection": {"ip_address|cidr": "10.0.0.0/8"}, "condition": "selection"}))
    database = tmp_path / "never.duckdb"
    line = (f"error: {bad}: detection: modifier 'cidr' of field 'ip_address' is not supported: use "
            f"{', '.join(PORTABLE_MODIFIERS)}")
    result = CliRunner().invoke(models_group, ["build", "--duckdb-path", str(database), "--detections-dir", str(team)])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [line]
    # `load` and `import-csv` build the models after writing: they check the rules before anything is written.
    for args in (["load", "--subdomain", "acme"], ["import-csv", str(tmp_path / "audit.csv"), "--subdomain", "acme"]):
        result = CliRunner().invoke(cli, [*args, "--duckdb-path", str(database), "--detections-dir", str(team)])
        assert result.exit_code == 2 and result.output.strip().splitlines() == [line], args
    assert not database.exists()


def test_a_seeds_folder_with_the_retired_sensitive_rules_fails_in_one_line(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SQL_DIR / "seeds", seeds)
    (seeds / "sensitive_rules.csv").write_text("rule_id,severity,title,source_type_pattern,action_pattern,label_pattern,"
                                               "description_pattern\nmine,high,Mine,user,,,\n")
    pipeline = create_pipeline("duckdb", "never_touched", duckdb_path=str(tmp_path / "never.duckdb"))
    with pytest.raises(SeedError) as caught:
        build_models(pipeline, seeds_dir=seeds)
    message = str(caught.value)
    assert message.startswith(str(seeds / "sensitive_rules.csv") + ": sensitive rules are Sigma rules now")
    assert "--detections-dir" in message and "\n" not in message
    assert not (tmp_path / "never.duckdb").exists()
