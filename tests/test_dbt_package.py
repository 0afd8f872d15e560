"""A team on dbt installs the models as a package and builds on them: tests/dbt_consumer, offline.

The consumer project lists `sql/` in its packages.yml (a local path, as the README shows), points
the source at its dataset with a var, and refs the public mart `sensitive_changes` (latest and
pinned version). dbt runs as the team would run it (`dbt deps`, `dbt build`), in-process, with a
DuckDB profile that loads no extension: nothing is downloaded.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import load_sandbox
from zendesk_audit.models.dbt_project import OFFLINE_ENV
from zendesk_audit.settings import SQL_DIR

CONSUMER = Path(__file__).resolve().parent / "dbt_consumer"


def run_dbt(project: Path, *args: str) -> object:
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke([*args, "--project-dir", str(project), "--profiles-dir", str(project),
                               "--log-level", "none", "--no-send-anonymous-usage-stats", "--no-version-check"])


def test_a_dbt_project_installs_the_models_as_a_package_and_builds_on_a_mart(
    sandbox: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "warehouse.duckdb"
    load_sandbox(sandbox, duckdb_path=database, dataset="raw_zendesk")
    project = tmp_path / "audit_team"
    shutil.copytree(CONSUMER, project)
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(SQL_DIR)}]}))
    settings = yaml.safe_load((project / "dbt_project.yml").read_text())
    settings["vars"]["zendesk_audit"]["zendesk_audit_schema"] = "raw_zendesk"
    (project / "dbt_project.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    profile = {"type": "duckdb", "path": str(database), "schema": "analytics", "threads": 1}
    (project / "profiles.yml").write_text(yaml.safe_dump({"audit_team": {"target": "dev", "outputs": {"dev": profile}}}))
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ZENDESK_AUDIT_SEEDS_DIR", raising=False)
    try:
        deps = run_dbt(project, "deps")
        assert deps.success, deps.exception
        assert (project / "dbt_packages" / "zendesk_audit" / "dbt_project.yml").exists()
        built = run_dbt(project, "build")
        assert built.success, [str(result.message) for result in built.result.results if str(result.status) != "success"]
    finally:
        from zendesk_audit.models.dbt_project import _release_duckdb

        _release_duckdb()
    names = {result.node.name for result in built.result.results}
    assert {"sensitive_changes", "sensitive_changes_by_account", "stg_audit_logs", "detection_rules"} <= names
    with duckdb.connect(str(database), read_only=True) as connection:
        ours = connection.execute(
            "select severity, count(*) from analytics.sensitive_changes group by 1 order by 1").fetchall()
        theirs = connection.execute(
            "select severity, changes, changes_in_pinned_version from analytics.sensitive_changes_by_account "
            "order by 1").fetchall()
    assert ours and [(severity, count) for severity, count, _ in theirs] == ours
    assert {pinned for _, _, pinned in theirs} == {sum(count for _, count in ours)}
    assert not os.path.exists(SQL_DIR / "target") and not os.path.exists(SQL_DIR / "logs")  # the package stays clean
