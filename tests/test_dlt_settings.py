"""The library changes no environment variable: its dlt settings reach only its own pipelines.

An orchestrator worker may run other dlt pipelines in the same process; they must not inherit our
normalizer settings or the load's 64 MB DuckDB limit, and a user's own setting always wins.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext

from conftest import load_sandbox
from zendesk_audit.load.dlt_settings import bounded_memory, own_pipeline, verbose_dlt

ADD_DLT_ID = "normalize.parquet_normalizer.add_dlt_id"
GLOBAL_CONFIG = "destination.duckdb.credentials.global_config"


def _as_pipeline(name: str, key: str) -> Any:
    """What dlt resolves for `key` while it works for the pipeline `name`."""
    with Container().injectable_context(ConfigSectionContext(pipeline_name=name)):
        return dlt.config.get(key)


def test_a_load_leaves_the_environment_as_it_found_it(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=500, seed=11)
    before = dict(os.environ)
    result = load_sandbox(sandbox, duckdb_path)
    assert result.records_loaded == 500
    assert dict(os.environ) == before


def test_settings_answer_for_our_pipelines_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", raising=False)
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", raising=False)
    own_pipeline("zendesk_audit_settings_test")
    assert _as_pipeline("zendesk_audit_settings_test", ADD_DLT_ID) is False
    assert _as_pipeline("someone_elses_pipeline", ADD_DLT_ID) is None
    # The load's memory bound: only while that pipeline loads, and only for it.
    assert _as_pipeline("zendesk_audit_settings_test", GLOBAL_CONFIG) is None
    with bounded_memory("zendesk_audit_settings_test"):
        assert _as_pipeline("zendesk_audit_settings_test", GLOBAL_CONFIG)["memory_limit"] == "64MB"
        assert _as_pipeline("someone_elses_pipeline", GLOBAL_CONFIG) is None
    assert _as_pipeline("zendesk_audit_settings_test", GLOBAL_CONFIG) is None


def test_a_users_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    own_pipeline("zendesk_audit_settings_test")
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "1GB"}')
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    assert str(_as_pipeline("zendesk_audit_settings_test", ADD_DLT_ID)).lower() == "true"
    with bounded_memory("zendesk_audit_settings_test"):
        assert "1GB" in str(_as_pipeline("zendesk_audit_settings_test", GLOBAL_CONFIG))
    with verbose_dlt():
        assert dlt.config.get("runtime.log_level") == "ERROR"


def test_verbose_sets_dlts_log_level_for_its_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a `log_level` in .dlt/config.toml (the repository's says WARNING), as an environment variable would."""
    monkeypatch.delenv("RUNTIME__LOG_LEVEL", raising=False)
    before = dlt.config.get("runtime.log_level")
    with verbose_dlt():
        assert dlt.config.get("runtime.log_level") == "INFO"
    assert dlt.config.get("runtime.log_level") == before
