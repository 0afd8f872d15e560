"""`zendesk-audit demo`: the whole path on this machine, with no Zendesk account."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import duckdb

from zendesk_audit.load.api_load import load_account
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import demo_lines
from zendesk_audit.settings import DEFAULT_DATASET_NAME
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials
from zendesk_sandbox import Sandbox


def run_demo(records: int, duckdb_path: str) -> Iterator[str]:
    """Load a sandbox into `duckdb_path` with OAuth client credentials and describe the result."""
    with Sandbox(records=records) as sandbox:
        yield f"sandbox: {records:,} audit-log records served at {sandbox.base_url}"
        # `read` as well as `auditlogs:read`: the sandbox, like Zendesk probably, reads the account's
        # time zone only with it (without it local times fall back to UTC, with a warning).
        credentials = ZendeskCredentials(
            client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret, scope="auditlogs:read read"
        )
        source_args = {"subdomain": sandbox.config.subdomain, "base_url": sandbox.base_url, "credentials": credentials}
        result = load_account(source_args, "duckdb", DEFAULT_DATASET_NAME, duckdb_path=duckdb_path, build_models=True)
        yield result.summary_line()
        if result.models_summary:
            yield result.models_summary
    yield from describe(duckdb_path, DEFAULT_DATASET_NAME)


def describe(duckdb_path: str, dataset: str) -> Iterator[str]:
    """A few lines about what the DuckDB file holds, and how to query it."""
    table = f"{dataset}.audit_logs"
    with duckdb.connect(duckdb_path, read_only=True) as connection:
        total, first, last = connection.execute(
            f"select count(*), min(created_at), max(created_at) from {table}"
        ).fetchone()
        yield f"{os.path.basename(duckdb_path)}: {total:,} records in {table}, from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    yield from demo_lines(create_pipeline("duckdb", dataset, duckdb_path=duckdb_path))
    # The programs of the environment that ran the demo: a bare `python` may be another one, without duckdb.
    shell = os.path.join(os.path.dirname(sys.executable), "duckdb")
    shell = _shown(shell) if os.path.exists(shell) else "duckdb"
    yield "query it:"
    yield f"  {shell} {duckdb_path} \"select * from {dataset}_models.off_hours_changes limit 10\""
    yield f"  {_shown(sys.executable)} -c \"import duckdb; print(duckdb.connect('{duckdb_path}').sql('from {table} limit 5'))\""


def _shown(path: str) -> str:
    """`path` relative to the working folder when it is inside it (`.venv/bin/python`), else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative
