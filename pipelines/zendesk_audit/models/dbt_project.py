"""dbt runs the SQL models: a profile made from the dlt destination, `dbtRunner` in-process, offline.

Users configure one destination (dlt's); this module writes the dbt profile from its credentials
into the pipeline's working folder, with any secret passed through `env_var()` and the process
environment, never written to disk. Everything dbt writes (target/, logs/, the checked seeds) goes
to that folder too, so `sql/` may be read-only (inside an installed wheel).

Offline by construction: no `dbt deps` (the project has no packages), no DuckDB extension in the
profile (dlt's own dbt runner writes one that loads `httpfs`, which DuckDB would try to download),
no anonymous usage statistics (`DO_NOT_TRACK=1`, `send_anonymous_usage_stats: false`), no version check.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.settings import SQL_DIR

if TYPE_CHECKING:
    import dlt
    from dbt.cli.main import dbtRunnerResult
    from dbt.contracts.graph.manifest import Manifest

PROFILE_NAME = "zendesk_audit"
PROJECT_NAME = "zendesk_audit"
PASSWORD_ENV = "ZENDESK_AUDIT_DBT_SECRET"
LAKE_SQL_ENV = "ZENDESK_AUDIT_DBT_LAKE_SQL"
SEEDS_DIR_ENV = "ZENDESK_AUDIT_SEEDS_DIR"
# dlt destination -> the dbt adapter package that runs the models there.
ADAPTER_PACKAGES = {
    "duckdb": "dbt-duckdb",
    "ducklake": "dbt-duckdb",
    "postgres": "dbt-postgres",
    "snowflake": "dbt-snowflake",
    "bigquery": "dbt-bigquery",
    "databricks": "dbt-databricks",
}
OFFLINE_ENV = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false"}
_INVOKE_LOCK = threading.Lock()


def default_sql_dir() -> Path:
    """The dbt project: config `models.sql_dir` (env `MODELS__SQL_DIR`), else the one shipped with the
    package (`settings.SQL_DIR`: `sql/` of a checkout, `zendesk_audit/_sql` of an installed wheel)."""
    import dlt

    configured = dlt.config.get("models.sql_dir", str)
    return Path(configured) if configured else SQL_DIR


@dataclass
class DbtProfile:
    """One dbt target, and the secrets its `env_var()` calls read."""

    adapter: str
    target: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)

    def as_yaml(self) -> str:
        import yaml

        document = {PROFILE_NAME: {"target": "zendesk_audit", "outputs": {"zendesk_audit": self.target}}}
        return yaml.safe_dump(document, sort_keys=False)


def _secret(value: object) -> str:
    return f"{{{{ env_var('{PASSWORD_ENV}') }}}}" if value else ""


def profile_for(pipeline: dlt.Pipeline, schema: str) -> DbtProfile:
    """The dbt target for the pipeline's destination, writing the models into `schema`.

    Raises:
        ConfigurationError: a destination the models do not run on, or whose dbt adapter is missing.
    """
    name = pipeline.destination.destination_name
    if name not in ADAPTER_PACKAGES:
        raise ConfigurationError(
            f"the SQL models run with dbt on {', '.join(ADAPTER_PACKAGES)}; {name} has none here: "
            "load into one of those, or run sql/ as a dbt project with your own profile (see docs/models.md)"
        )
    credentials = pipeline.destination_client().config.credentials
    if name == "duckdb":
        # No `extensions`: DuckDB's built-in ICU covers the time zones, and nothing is downloaded.
        target = {"type": "duckdb", "path": str(credentials.database), "schema": schema, "threads": 1}
        return DbtProfile(name, target)
    if name == "ducklake":
        return _ducklake_profile(pipeline, schema)
    if name == "postgres":
        target = {
            "type": "postgres",
            "host": credentials.host,
            "port": int(credentials.port or 5432),
            "user": credentials.username,
            "password": _secret(credentials.password),
            "dbname": credentials.database,
            "schema": schema,
            "threads": 1,
        }
        sslmode = (getattr(credentials, "query", None) or {}).get("sslmode")
        if sslmode:
            target["sslmode"] = sslmode
        return DbtProfile(name, target, {PASSWORD_ENV: str(credentials.password or "")})
    if name == "snowflake":
        target = {
            "type": "snowflake",
            "account": credentials.host,
            "user": credentials.username,
            "password": _secret(credentials.password),
            "database": credentials.database,
            "warehouse": getattr(credentials, "warehouse", None),
            "role": getattr(credentials, "role", None),
            "schema": schema,
            "threads": 1,
        }
        target = {key: value for key, value in target.items() if value is not None}
        return DbtProfile(name, target, {PASSWORD_ENV: str(credentials.password or "")})
    if name == "bigquery":
        target = {
            "type": "bigquery",
            "method": "service-account-json",
            "project": credentials.project_id,
            "dataset": schema,
            "location": getattr(pipeline.destination_client().config, "location", None) or "US",
            "threads": 1,
            "keyfile_json": {
                "type": "service_account",
                "project_id": credentials.project_id,
                "client_email": credentials.client_email,
                "private_key": _secret(credentials.private_key),
                "token_uri": getattr(credentials, "token_uri", None) or "https://oauth2.googleapis.com/token",
            },
        }
        return DbtProfile(name, target, {PASSWORD_ENV: str(credentials.private_key or "")})
    target = {
        "type": "databricks",
        "host": credentials.server_hostname,
        "http_path": credentials.http_path,
        "token": _secret(credentials.access_token),
        "catalog": credentials.catalog,
        "schema": schema,
        "threads": 1,
    }
    return DbtProfile(name, target, {PASSWORD_ENV: str(credentials.access_token or "")})


def _ducklake_profile(pipeline: dlt.Pipeline, schema: str) -> DbtProfile:
    """dbt-duckdb on a DuckDB in memory with the lake attached under its name: the models become lake tables.

    The plugin (`lake_plugin`) loads the extensions from their packages and runs dlt's own statements
    for this lake (the storage's secret, the ATTACH, which holds a PostgreSQL catalog's password),
    read from an environment variable set for the invocation only. The profile's `attach` entry only
    tells dbt-duckdb that the database is a DuckLake (its ATTACH IF NOT EXISTS then does nothing).
    """
    import json

    from zendesk_audit.load.duckdb_extensions import lake_extensions

    client = pipeline.destination_client()
    credentials = client.config.credentials
    alias = credentials.ducklake_name
    statements = [item["sql"] for item in client.sql_client.attach_statements(alias=alias)]
    extensions = lake_extensions(credentials.catalog.drivername, credentials.storage.protocol)
    target = {
        "type": "duckdb",
        "path": ":memory:",
        "database": alias,
        "schema": schema,
        "threads": 1,
        # The models name what they read `schema.table` (sql/macros/relations.sql): found in the lake.
        "settings": {"search_path": f"{alias}.main"},
        "plugins": [
            {"module": "zendesk_audit.models.lake_plugin",
             "config": {"extensions": extensions, "statements_env": LAKE_SQL_ENV}},
        ],
        "attach": [{"path": f"ducklake:{credentials.catalog_location()}", "alias": alias, "is_ducklake": True}],
    }
    return DbtProfile("duckdb", target, {LAKE_SQL_ENV: json.dumps(statements)})


def check_adapter(adapter: str) -> None:
    """Raises ConfigurationError when the dbt adapter for `adapter` is not installed."""
    import importlib.util

    if importlib.util.find_spec(f"dbt.adapters.{adapter}") is None:
        # Only the postgres extra brings its adapter; the warehouses' adapters are the user's to add.
        package = ADAPTER_PACKAGES[adapter]
        install = "pip install 'zendesk-audit[postgres]'" if adapter == "postgres" else f"pip install {package}"
        raise ConfigurationError(
            f"the SQL models on {adapter} need {package}: {install}, or load with --no-models"
        )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The environment one dbt invocation needs, restored after it (the caller holds `_INVOKE_LOCK`).

    The one place the package writes `os.environ`, and only for the invocation: dbt reads the
    profile's secret (`env_var`) and its offline flags from the environment alone, and the
    alternative, the password written into profiles.yml, would put a secret on disk.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open in a class attribute: close it, so the file is free."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            with contextlib.suppress(Exception):
                DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


@dataclass
class DbtProject:
    """The dbt project and the folder dbt works in, for one pipeline."""

    project_dir: Path
    work_dir: Path
    profile: DbtProfile
    seeds_dir: Path
    manifest: Manifest | None = None

    @property
    def target_path(self) -> Path:
        """dbt's target folder, one per project folder: dbt's partial-parse cache
        (`partial_parse.msgpack`, kept between runs) mixed across two projects (`--sql-dir` and
        back) kept a model version the files no longer declare."""
        import hashlib

        key = hashlib.sha256(str(self.project_dir.resolve()).encode("utf-8")).hexdigest()[:12]
        return self.work_dir / "target" / key

    def write_profile(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / "profiles.yml"
        text = self.profile.as_yaml()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")

    def invoke(self, args: list[str]) -> dbtRunnerResult:
        """One dbt command in-process; returns dbt's `dbtRunnerResult`."""
        from dbt.cli.main import dbtRunner

        from zendesk_audit.models import dbt_flag_source, dbt_macro_memo

        dbt_flag_source.install()
        dbt_macro_memo.install()
        common = [
            "--project-dir", str(self.project_dir),
            "--profiles-dir", str(self.work_dir),
            "--target-path", str(self.target_path),
            "--log-path", str(self.work_dir / "logs"),
            "--log-level", "none",
            "--log-level-file", "info",
            "--no-send-anonymous-usage-stats",
            "--no-version-check",
            "--no-use-colors",
            # No manifest.json or run_results.json: nothing reads them, and writing them costs about
            # a second per build (the partial-parse file and dbt's log are still written).
            "--no-write-json",
        ]
        environment = {**OFFLINE_ENV, SEEDS_DIR_ENV: str(self.seeds_dir), **self.profile.secrets}
        with _INVOKE_LOCK, _environment(environment):
            try:
                return dbtRunner(manifest=self.manifest).invoke([*args, *common])
            finally:
                _release_duckdb()

    def parse(self, variables: str) -> Manifest:
        """The project's manifest (dbt's `parse`); kept for the next invocations, which then skip parsing.

        `variables` (JSON) are the ones parsing renders (the source schema, the time zone): the
        later invocations must pass the same, plus any that only execution reads.
        """
        result = self.invoke(["parse", "--vars", variables])
        if not result.success or result.result is None:
            raise ConfigurationError(f"the dbt project in {self.project_dir} does not parse: {failure_line(result)}")
        # `parse` answers with the manifest (dbtRunnerResult.result is a union over the commands).
        manifest = cast("Manifest", result.result)
        self.manifest = manifest
        return manifest


def error_line(message: BaseException | str | None) -> str:
    """dbt's message as one line: the database's words, not dbt's `Runtime Error in model ...` heading."""
    from zendesk_audit.models.warehouse import first_error_line

    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    while len(lines) > 1 and " Error in " in lines[0]:
        lines.pop(0)
    return first_error_line("\n".join(lines) or "no message")


def failure_line(result: dbtRunnerResult) -> str:
    """The first error of a dbt result as one line."""
    if result.exception is not None:
        return error_line(result.exception)
    for node_result in getattr(result.result, "results", None) or []:
        if str(node_result.status) in ("error", "fail", "runtime error"):
            return error_line(node_result.message or node_result.status)
    return "dbt failed without a message (see its log in the pipeline's working folder)"
