"""The same dbt project on Spark (dbt-spark, session mode), over the Parquet files dlt's filesystem destination writes.

For teams that outgrow one machine: load with `--destination filesystem`
(`DESTINATION__FILESYSTEM__BUCKET_URL=s3://...` or `file:///...`), then in a Spark session:

    >>> from zendesk_audit.models.spark import build_models_spark, register_parquet_dataset
    >>> register_parquet_dataset(spark, "file:///data/lake", "zendesk_audit")
    >>> build_models_spark(spark, "zendesk_audit", work_dir="/tmp/zendesk-audit-dbt")

dbt-spark's session mode runs in this process on the active SparkSession (`getOrCreate`), so the
tables registered here are the ones the models read. Spark over Parquet cannot delete rows, so the
marts are tables rebuilt whole on every build (`sql/dbt_project.yml`); set the session time zone
to UTC (`spark.sql.session.timeZone=UTC`) so timestamps read from Parquet stay in UTC. Needs
`pip install 'zendesk-audit[spark]'` and Java 17+; nothing here imports pyspark at module level.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.models.dbt_project import DbtProfile, DbtProject, default_sql_dir, failure_line
from zendesk_audit.models.seeds import read_seeds, write_checked_seeds

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_TABLES = ("audit_logs", "accounts")


def local_path(bucket_url: str) -> str:
    """`file:///x` -> `/x`; other URLs (s3://, abfss://) pass through for Spark to resolve."""
    parsed = urlparse(bucket_url)
    return parsed.path if parsed.scheme == "file" else bucket_url


def register_parquet_dataset(spark: SparkSession, bucket_url: str, dataset: str) -> list[str]:
    """Expose `<bucket>/<dataset>/<table>/*.parquet` (dlt's filesystem layout) as Spark tables.

    Returns the tables registered; `accounts` is optional (the models then use UTC or the config).
    """
    base = local_path(bucket_url).rstrip("/")
    spark.sql(f"create database if not exists `{dataset}`")
    registered = []
    for table in SPARK_TABLES:
        location = f"{base}/{dataset}/{table}"
        if "://" not in location and not (Path(location).is_dir() and any(Path(location).glob("*.parquet"))):
            continue
        spark.sql(f"drop table if exists `{dataset}`.`{table}`")
        spark.sql(f"create table `{dataset}`.`{table}` using parquet location '{location}'")
        registered.append(table)
    return registered


def build_models_spark(
    spark: SparkSession,
    dataset: str,
    *,
    work_dir: str | Path,
    time_zone: str | None = None,
    sql_dir: str | Path | None = None,
    seeds_dir: str | Path | None = None,
    detections_dir: str | Path | None = None,
) -> list[str]:
    """Seed and build every model in the Spark database `<dataset>_models`; the models built, in order.

    Args:
        spark: the active SparkSession (dbt-spark's session mode uses it).
        dataset: the Spark database holding `audit_logs` (see `register_parquet_dataset`).
        work_dir: where dbt writes its profile, target/ and logs.
        detections_dir: the team's folder of Sigma rules (default: config `models.detections_dir`).

    Raises:
        SeedError: a seed row is invalid (`file:line: reason`), nothing was built.
        ConfigurationError: a model or seed failed on Spark (its first error line).
    """
    import json

    from zendesk_audit.models.build import DETECTIONS_VAR, resolve_time_zone
    from zendesk_audit.models.detection_sql import detection_inputs

    project_dir = Path(sql_dir) if sql_dir else default_sql_dir()
    seeds = read_seeds(Path(seeds_dir) if seeds_dir else project_dir / "seeds", project_dir.parent)
    override = resolve_time_zone(time_zone)
    detections = detection_inputs(seeds, "spark", detections_dir)
    seeds = detections.seeds
    work = Path(work_dir)
    profile = DbtProfile("spark", {"type": "spark", "method": "session", "host": "NA",
                                   "schema": f"{dataset}_models", "threads": 1})
    project = DbtProject(project_dir, work, profile, work / "seeds")
    write_checked_seeds(seeds, project.seeds_dir)
    project.write_profile()
    variables = json.dumps({"zendesk_audit_schema": dataset, "zendesk_audit_time_zone": override,
                            DETECTIONS_VAR: detections.detections})
    built: list[str] = []
    for command in (["seed", "--full-refresh"], ["run"]):
        result = project.invoke([*command, "--vars", variables])
        if not result.success:
            raise ConfigurationError(f"dbt {command[0]} failed on spark: {failure_line(result)}")
        built += [item.node.name for item in result.result.results if item.node.resource_type == "model"]
    return built
