"""The orchestrator recipes in examples/: Dagster materializes against the sandbox; the others build or parse."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def sandbox_env(sandbox: Any, duckdb_path: Path) -> dict[str, str]:
    return {
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": sandbox.config.email,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": sandbox.config.api_token,
        "SOURCES__ZENDESK_AUDIT__LAG_SECONDS": "0",
        "ZENDESK_AUDIT_DESTINATION": "duckdb",
        "ZENDESK_AUDIT_DUCKDB_PATH": str(duckdb_path),
    }


def import_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def needs(module: str, how: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: {how} to run this recipe's test")


@pytest.fixture
def configured(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sandbox as the recipes' environment; returns the DuckDB file they load."""
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    path = tmp_path / "zendesk.duckdb"
    for key, value in sandbox_env(sandbox, path).items():
        monkeypatch.setenv(key, value)
    return path


def count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute("select count(*) from zendesk_audit.audit_logs").fetchone()[0]


def test_dagster_materializes_the_assets_against_the_sandbox(sandbox: Any, configured: Path) -> None:
    needs("dagster_dlt", "pip install dagster dagster-dlt")
    import dagster as dg

    recipe = import_example("dagster_zendesk_audit")
    assets = [recipe.zendesk_audit_assets, recipe.zendesk_audit_models]
    first = dg.materialize(assets, resources={"dlt": recipe.DagsterDltResource()})
    assert first.success
    assert count(configured) == len(sandbox.records())
    sandbox.append(3)
    again = dg.materialize(assets, resources={"dlt": recipe.DagsterDltResource()})
    assert again.success and count(configured) == len(sandbox.records())  # incremental: only the 3 new ones
    assert recipe.defs.resolve_job_def("zendesk_audit_job") is not None


def test_airflow_builds_the_dag(configured: Path) -> None:
    needs("airflow", "pip install 'apache-airflow>=2.8' (not a project dependency)")
    recipe = import_example("airflow_zendesk_audit")
    dag = recipe.zendesk_audit_dag()
    assert dag.dag_id == "zendesk_audit" and any("zendesk_audit_load" in task_id for task_id in dag.task_ids)


def test_prefect_builds_the_flow(configured: Path) -> None:
    needs("prefect", "pip install prefect (not a project dependency)")
    recipe = import_example("prefect_zendesk_audit")
    assert recipe.zendesk_audit_flow.name == "zendesk-audit"


def test_the_cron_script_loads_and_exits_0(sandbox: Any, configured: Path, tmp_path: Path) -> None:
    script = EXAMPLES / "cron_zendesk_audit.sh"
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")},
           **sandbox_env(sandbox, configured), "ZENDESK_AUDIT_HOME": str(tmp_path),
           "ZENDESK_AUDIT_BIN": str(Path(sys.executable).with_name("zendesk-audit")),
           "DLT_DATA_DIR": str(tmp_path / "dlt")}
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "loaded" in done.stdout and count(configured) == len(sandbox.records())


def test_the_github_actions_workflow_runs_the_load() -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "zendesk-audit.yml").read_text())
    steps = workflow["jobs"]["load"]["steps"]
    assert any("zendesk-audit load" in step.get("run", "") for step in steps)
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET" in workflow["jobs"]["load"]["env"]
