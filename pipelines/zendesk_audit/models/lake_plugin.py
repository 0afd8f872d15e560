"""A dbt-duckdb plugin that readies dbt's DuckDB for a DuckLake: extensions from their packages, secrets.

dbt-duckdb installs a profile's `extensions` from DuckDB's repository (a download) and creates its
`secrets` before any plugin runs, when `httpfs` is not loaded yet. This plugin runs before the
profile's `attach`: it switches DuckDB's downloads off, loads the lake's extensions from their
Python packages (`load.duckdb_extensions`), and runs the object storage's `CREATE SECRET`, which it
reads from the environment variable the profile names (set only for the dbt invocation, never
written to disk: `dbt_project._environment`).

Profile:

    plugins:
      - module: zendesk_audit.models.lake_plugin
        config: {extensions: [ducklake, sqlite_scanner], statements_env: ZENDESK_AUDIT_DBT_LAKE_SQL}
"""
from __future__ import annotations

import json
import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from zendesk_audit.load.duckdb_extensions import OFFLINE_SETTINGS, load_extensions


class Plugin(BasePlugin):
    """See the module."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.extensions = list(plugin_config.get("extensions") or [])
        self.statements_env = str(plugin_config.get("statements_env") or "")

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        config.update(OFFLINE_SETTINGS)

    def configure_connection(self, conn: Any) -> None:
        load_extensions(conn, self.extensions)
        statements = json.loads(os.environ.get(self.statements_env) or "[]") if self.statements_env else []
        for statement in statements:
            conn.execute(statement)
