"""Prefect recipe: a flow that loads the Zendesk audit log (one or several accounts) and builds the models.

Environment (a Prefect work pool's job variables, or Secret blocks exported as env):
    SOURCES__ZENDESK_AUDIT__SUBDOMAIN                   one account, e.g. acme; or
    SOURCES__ZENDESK_AUDIT__SUBDOMAINS                  several: '["acme", "beta"]', each with
    SOURCES__ZENDESK_AUDIT__ACCOUNTS__<SUBDOMAIN>__CREDENTIALS__CLIENT_ID / __CLIENT_SECRET
    SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID      (one account) OAuth client credentials
    SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET
    ZENDESK_AUDIT_DESTINATION                           duckdb (default) or a warehouse name
    DESTINATION__<NAME>__CREDENTIALS                    the warehouse's credentials

State on ephemeral workers: each flow run may land on a new container. dlt keeps the cursor in
the destination (`_dlt_pipeline_state`) and restores it when the local folder is empty, so the
run continues where the last committed chunk stopped; a DuckDB file must sit on a volume.

Run it once: `python examples/prefect_zendesk_audit.py`; deploy: `prefect deploy` with this flow.
Install: pip install prefect zendesk-audit  (Prefect is not a dependency of this project).
"""
from __future__ import annotations

import os
from typing import Any

from prefect import flow, get_run_logger, task

DESTINATION = os.environ.get("ZENDESK_AUDIT_DESTINATION", "duckdb")
DATASET = os.environ.get("ZENDESK_AUDIT_DATASET", "zendesk_audit")
DUCKDB_PATH = os.environ.get("ZENDESK_AUDIT_DUCKDB_PATH", "zendesk.duckdb")


@task(retries=2, retry_delay_seconds=300)
def load_zendesk_audit() -> dict[str, Any]:
    """`zendesk-audit load`: one account, or every account of `sources.zendesk_audit.subdomains`."""
    from zendesk_audit.errors import ZendeskAuditError
    from zendesk_audit.load.accounts import load_all
    from zendesk_audit.load.runner import LoadOptions

    options = LoadOptions(DESTINATION, DATASET, DUCKDB_PATH, progress="log", build_models=True)
    outcome = load_all([], {}, options)  # the accounts as `zendesk-audit load` chooses them
    if outcome.failure is not None:
        raise outcome.failure  # the data is committed; the models after it failed
    if outcome.failed_accounts:
        raise ZendeskAuditError(f"accounts failed: {', '.join(outcome.failed_accounts)}")
    return outcome.as_dict()


@flow(name="zendesk-audit")
def zendesk_audit_flow() -> dict[str, Any]:
    result = load_zendesk_audit()
    get_run_logger().info("zendesk-audit: %s", result.get("models_summary") or result.get("status"))
    return result


if __name__ == "__main__":
    zendesk_audit_flow()
