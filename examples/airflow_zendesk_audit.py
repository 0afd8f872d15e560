"""Airflow recipe: dlt's `PipelineTasksGroup` runs the Zendesk audit-log load, then the SQL models.

Environment (Airflow Variables/Connections exported as env, or the worker's environment):
    SOURCES__ZENDESK_AUDIT__SUBDOMAIN                   the account, e.g. acme
    SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID      OAuth client credentials (or __ACCESS_TOKEN,
    SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET     or __EMAIL and __API_TOKEN until 2027-04-30)
    ZENDESK_AUDIT_DESTINATION                           a warehouse: postgres, snowflake, bigquery, ...
    DESTINATION__<NAME>__CREDENTIALS                    its connection string or credential keys
    ZENDESK_AUDIT_DATASET                               default zendesk_audit

State on ephemeral workers: Airflow workers (Kubernetes, Celery autoscaling) lose their disk.
dlt stores the cursor in the destination's `_dlt_pipeline_state` table with each load and
restores it on a worker without local state, so each run continues from the last committed one.
`PipelineTasksGroup(..., wipe_local_data=True)` deletes the local working folder afterwards.
Use a warehouse destination here: a DuckDB file on a worker's disk would be lost with it.

Install: pip install "apache-airflow>=2.8" zendesk-audit  (Airflow is not a dependency of this project).
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.decorators import dag, task
from dlt.helpers.airflow_helper import PipelineTasksGroup

DESTINATION = os.environ.get("ZENDESK_AUDIT_DESTINATION", "postgres")
DATASET = os.environ.get("ZENDESK_AUDIT_DATASET", "zendesk_audit")
DUCKDB_PATH = os.environ.get("ZENDESK_AUDIT_DUCKDB_PATH", "zendesk.duckdb")


@dag(
    dag_id="zendesk_audit",
    schedule="7 * * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,  # the dlt cursor, not Airflow's data interval, decides what is new
    max_active_runs=1,  # one load at a time per database
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
)
def zendesk_audit_dag() -> None:
    from zendesk_audit.extract.source import zendesk_audit_source
    from zendesk_audit.load.pipeline import create_pipeline

    tasks = PipelineTasksGroup("zendesk_audit_load", use_data_folder=False, wipe_local_data=True)
    pipeline = create_pipeline(DESTINATION, DATASET, duckdb_path=DUCKDB_PATH)
    # "serialize": one task per resource in order; the source's two resources are small and related.
    load_tasks = tasks.add_run(pipeline, zendesk_audit_source(), decompose="serialize", trigger_rule="all_done", retries=0)

    @task
    def build_models() -> dict[str, Any]:
        from zendesk_audit.models.build import build_models as build

        return build(create_pipeline(DESTINATION, DATASET, duckdb_path=DUCKDB_PATH)).as_dict()

    load_tasks[-1] >> build_models()


zendesk_audit_dag()
