"""Dagster recipe: the Zendesk audit log as dagster-dlt assets, then the SQL models.

Environment (set them on the Dagster deployment, never in code):
    SOURCES__ZENDESK_AUDIT__SUBDOMAIN                 the account, e.g. acme
    SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID    OAuth client credentials (or __ACCESS_TOKEN,
    SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET   or __EMAIL and __API_TOKEN until 2027-04-30)
    ZENDESK_AUDIT_DESTINATION                         duckdb (default), postgres, snowflake, bigquery, ...
    ZENDESK_AUDIT_DUCKDB_PATH                         the DuckDB file (default zendesk.duckdb)
    DESTINATION__<NAME>__CREDENTIALS                  the warehouse, e.g. DESTINATION__POSTGRES__CREDENTIALS
    DLT_DATA_DIR                                      dlt's local working folder (may be thrown away)

State on ephemeral workers: dlt writes the pipeline state (the created_at cursor) into the
destination's `_dlt_pipeline_state` table with every load and restores it when a fresh worker
finds no local state, so a run on a new container continues where the last one stopped. Only
DuckDB keeps everything in a local file: put that file on a persistent volume, or use a
warehouse destination.

Run it: `dagster dev -f examples/dagster_zendesk_audit.py`, then materialize `zendesk_audit_assets`.
"""
# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time.
import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dlt import DagsterDltResource, dlt_assets

from zendesk_audit.extract.source import zendesk_audit_source
from zendesk_audit.load.pipeline import create_pipeline, loader_file_format
from zendesk_audit.models.build import build_models

DESTINATION = os.environ.get("ZENDESK_AUDIT_DESTINATION", "duckdb")
DUCKDB_PATH = os.environ.get("ZENDESK_AUDIT_DUCKDB_PATH", "zendesk.duckdb")
DATASET = os.environ.get("ZENDESK_AUDIT_DATASET", "zendesk_audit")


def pipeline() -> Any:
    """The same pipeline `zendesk-audit load` uses: its state is shared with the CLI's."""
    return create_pipeline(DESTINATION, DATASET, duckdb_path=DUCKDB_PATH)


@dlt_assets(
    dlt_source=zendesk_audit_source(),
    dlt_pipeline=pipeline(),
    name="zendesk_audit_assets",
    group_name="zendesk_audit",
)
def zendesk_audit_assets(context: AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
    """`audit_logs` and `accounts`, incrementally; a fresh source per run (a dlt source runs once)."""
    run_pipeline = pipeline()
    yield from dlt.run(
        context=context,
        dlt_source=zendesk_audit_source(),
        dlt_pipeline=run_pipeline,
        loader_file_format=loader_file_format(run_pipeline),
    )


@dg.asset(deps=[zendesk_audit_assets], group_name="zendesk_audit")
def zendesk_audit_models(context: AssetExecutionContext) -> dg.MaterializeResult:
    """The versioned SQL views in <dataset>_models (skip on the filesystem destination)."""
    result = build_models(pipeline())
    context.log.info(result.summary_line())
    return dg.MaterializeResult(metadata={"built": len(result.built), "unchanged": len(result.unchanged)})


zendesk_audit_job = dg.define_asset_job("zendesk_audit_job", selection=dg.AssetSelection.groups("zendesk_audit"))

defs = dg.Definitions(
    assets=[zendesk_audit_assets, zendesk_audit_models],
    resources={"dlt": DagsterDltResource()},
    jobs=[zendesk_audit_job],
    # Hourly; Zendesk's audit log is eventually consistent, the source holds back the last 5 minutes.
    schedules=[dg.ScheduleDefinition(job=zendesk_audit_job, cron_schedule="7 * * * *")],
)
