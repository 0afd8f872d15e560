"""A build that skips dbt (nothing changed since the last complete build) skips only what was safe to skip.

`models.build.unchanged_build` answers a no-op build without starting dbt when the ledger's INPUTS
row still matches: the same project files, seeds, rules, settings and versions, the same last load,
every relation present. Each case below changes one input and checks that the models build (dbt
runs, and rebuilds or refreshes what the change touched), then that the build after it is skipped
again. Checked on the build result (`dbt_skipped`, built, refreshed, seeds), never on timing.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from conftest import load_sandbox
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models import build as build_module
from zendesk_audit.models.build import BuildResult, build_models
from zendesk_audit.settings import SQL_DIR
from zendesk_sandbox import Sandbox

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
DATASET = "skips"


def rule_yaml(prefix: str) -> str:
    """A team rule: sign-ins from addresses that start with `prefix` (as tests/test_detections_sql.py writes them)."""
    return yaml.safe_dump({
        "title": "Sign in from a test network", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "sign_in_from_test")),
        "name": "sign_in_from_test", "status": "test", "tags": ["attack.initial_access"],
        "logsource": {"product": "zendesk", "service": "audit_log"},
        "detection": {"selection": {"action": "login", "ip_address|startswith": prefix}, "condition": "selection"},
        "level": "informational",
    }, sort_keys=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One sandbox and one DuckDB file, loaded and built once; the tests run in order on it."""
    folder = tmp_path_factory.mktemp("skips")
    with Sandbox(records=40, seed=3) as sandbox:
        path = folder / "audit.duckdb"
        load_sandbox(sandbox, duckdb_path=path, dataset=DATASET)
        pipeline = create_pipeline("duckdb", DATASET, duckdb_path=str(path))
        first = build_models(pipeline)
        assert not first.dbt_skipped and first.unchanged == [] and first.built
        yield {"sandbox": sandbox, "path": path, "pipeline": pipeline, "folder": folder}


def _skipped(result: BuildResult) -> None:
    assert result.dbt_skipped
    assert result.built == [] and result.refreshed == [] and result.seeds_loaded == []
    assert len(result.unchanged) == len(build_module.model_names())


def test_a_build_that_compiled_the_rules_lets_the_early_check_skip_pysigma(world: dict[str, Any]) -> None:
    from zendesk_audit.models import rule_check

    stamp = rule_check._stamp(rule_check.rules_digest([rule_check.DEFAULT_RULES_DIR]))
    assert stamp.is_file()  # the fixture's build wrote it; a changed rule file has another digest
    import zendesk_audit.models.detection_sql as detection_sql

    compiled: list[object] = []
    real = detection_sql.compile_rules
    try:
        detection_sql.compile_rules = lambda *args: compiled.append(args) or real(*args)  # type: ignore[assignment]
        rule_check.check_rules(None)
        assert compiled == []  # remembered: not compiled again
        stamp.unlink()
        rule_check.check_rules(None)
        assert len(compiled) == 1 and not stamp.exists()  # the check itself writes nothing
    finally:
        detection_sql.compile_rules = real
        rule_check.remember_checked(None)


def test_a_build_after_a_build_skips_dbt_and_says_every_model_is_unchanged(world: dict[str, Any]) -> None:
    _skipped(build_models(world["pipeline"]))
    _skipped(build_models(world["pipeline"]))


def test_a_load_that_brought_nothing_keeps_the_skip(world: dict[str, Any]) -> None:
    result = load_sandbox(world["sandbox"], duckdb_path=world["path"], dataset=DATASET)
    assert result.records_loaded == 0
    _skipped(build_models(world["pipeline"]))


def test_a_load_that_brought_rows_refreshes_the_marts(world: dict[str, Any]) -> None:
    world["sandbox"].append(3, created_at=datetime.now(timezone.utc) - timedelta(minutes=20))
    assert load_sandbox(world["sandbox"], duckdb_path=world["path"], dataset=DATASET).records_loaded == 3
    result = build_models(world["pipeline"])
    assert not result.dbt_skipped
    assert "item_history" in result.refreshed and "off_hours_changes" in result.refreshed
    _skipped(build_models(world["pipeline"]))


def test_a_seed_edit_rebuilds(world: dict[str, Any], tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SQL_DIR / "seeds", seeds)
    with (seeds / "approved_actors.csv").open("a", encoding="utf-8") as handle:
        handle.write("424242,Approved Robot,a test row,\n")
    result = build_models(world["pipeline"], seeds_dir=seeds)
    assert not result.dbt_skipped
    assert "approved_actors" in result.seeds_loaded and "unapproved_actor_changes" in result.built
    _skipped(build_models(world["pipeline"], seeds_dir=seeds))
    # Back to the shipped seeds: that is a change too.
    back = build_models(world["pipeline"])
    assert not back.dbt_skipped and "approved_actors" in back.seeds_loaded
    _skipped(build_models(world["pipeline"]))


def test_a_team_rule_rebuilds_sensitive_changes(world: dict[str, Any], tmp_path: Path) -> None:
    team = tmp_path / "team-rules"
    team.mkdir()
    _skipped(build_models(world["pipeline"], detections_dir=team))  # an empty folder adds no rule
    (team / "sign_in_from_test.yml").write_text(rule_yaml("81."), encoding="utf-8")
    result = build_models(world["pipeline"], detections_dir=team)
    assert not result.dbt_skipped and result.built == ["sensitive_changes"]
    _skipped(build_models(world["pipeline"], detections_dir=team))
    (team / "sign_in_from_test.yml").write_text(rule_yaml("82."), encoding="utf-8")
    changed = build_models(world["pipeline"], detections_dir=team)
    assert not changed.dbt_skipped and changed.built == ["sensitive_changes"]
    assert build_models(world["pipeline"]).built == ["sensitive_changes"]  # the team's rule gone
    _skipped(build_models(world["pipeline"]))


def test_a_models_version_change_rebuilds_that_mart(world: dict[str, Any], tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    spec = sql_dir / "models" / "marts" / "item_history.yml"
    spec.write_text(spec.read_text().replace("latest_version: 1", "latest_version: 2").replace("- v: 1", "- v: 2"))
    result = build_models(world["pipeline"], sql_dir=sql_dir)
    assert not result.dbt_skipped and "item_history" in result.built
    assert [outcome.version for outcome in result.models if outcome.name == "item_history"] == [2]
    _skipped(build_models(world["pipeline"], sql_dir=sql_dir))
    back = build_models(world["pipeline"])
    assert not back.dbt_skipped and "item_history" in back.built
    _skipped(build_models(world["pipeline"]))


def test_a_time_zone_or_a_package_upgrade_goes_to_dbt(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    zoned = build_models(world["pipeline"], time_zone="Asia/Tokyo")
    assert not zoned.dbt_skipped and "stg_audit_logs" in zoned.built
    _skipped(build_models(world["pipeline"], time_zone="Asia/Tokyo"))
    assert not build_models(world["pipeline"]).dbt_skipped  # back to the account's zone
    versions = build_module._versions()
    monkeypatch.setattr(build_module, "_versions", lambda: {**versions, "zendesk-audit": "999.0"})
    upgraded = build_models(world["pipeline"])
    assert not upgraded.dbt_skipped  # dbt decides; the SQL did not change, so nothing is rebuilt
    assert upgraded.built == [] and upgraded.refreshed == []
    monkeypatch.undo()
    assert not build_models(world["pipeline"]).dbt_skipped
    _skipped(build_models(world["pipeline"]))


def test_a_dropped_mart_is_rebuilt(world: dict[str, Any]) -> None:
    with duckdb.connect(str(world["path"])) as connection:
        connection.execute(f"drop table {DATASET}_models.item_history_v1")  # the versioned relation
    result = build_models(world["pipeline"])
    assert not result.dbt_skipped
    assert [outcome.reason for outcome in result.models if outcome.name == "item_history"] == ["missing"]
    _skipped(build_models(world["pipeline"]))


def test_a_full_refresh_never_skips(world: dict[str, Any]) -> None:
    result = build_models(world["pipeline"], full_refresh=True)
    assert not result.dbt_skipped and len(result.built) == len(build_module.model_names())


def test_the_command_says_so_in_json_and_load_skips_on_a_noop(world: dict[str, Any]) -> None:
    """Whole processes, as cron runs them: `models build --json` and `load --json` (with its models)."""
    sandbox = world["sandbox"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    env.update({
        "DLT_DATA_DIR": str(world["folder"] / "dlt-data"),
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": sandbox.config.email,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": sandbox.config.api_token,
    })
    where = ["--dataset", DATASET, "--duckdb-path", str(world["path"])]

    def run(*args: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "zendesk_audit", *args, *where, "--json"], env=env,
                              cwd=world["folder"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert run("models", "build")["dbt_skipped"] is True
    loaded = run("load")
    assert loaded["records_loaded"] == 0 and loaded["models"]["dbt_skipped"] is True
    sandbox.append(2, created_at=datetime.now(timezone.utc) - timedelta(minutes=10))
    loaded = run("load")
    assert loaded["records_loaded"] == 2 and loaded["models"]["dbt_skipped"] is False
    assert "item_history" in loaded["models"]["refreshed"]
    # The phases an orchestrator charts; the process's time covers the load's and the models'.
    assert set(loaded["phases"]) == {"fetch", "normalize", "load", "models"}
    assert all(seconds >= 0 for seconds in loaded["phases"].values())
    assert loaded["process_seconds"] >= loaded["seconds"] + loaded["phases"]["models"]
    assert run("models", "build")["dbt_skipped"] is True
