"""The same models on Spark SQL, over the Parquet files dlt's filesystem destination writes.

For teams that outgrow one machine: load with `--destination filesystem`
(`DESTINATION__FILESYSTEM__BUCKET_URL=s3://...` or `file:///...`), then in a Spark session:

    >>> from zendesk_audit.models_spark import build_models_spark, register_parquet_dataset
    >>> register_parquet_dataset(spark, "file:///data/lake", "zendesk_audit")
    >>> print(build_models_spark(spark, "zendesk_audit").summary_line())

The models are transpiled from PostgreSQL's dialect to Spark SQL by sqlglot when the build runs,
plus two rewrites sqlglot does not do: `extract(isodow ...)` becomes `extract(dayofweek_iso ...)`
and `extract(epoch from ts)` becomes `unix_seconds(ts)`. Set the session time zone to UTC
(`spark.sql.session.timeZone=UTC`) so timestamps read from Parquet stay in UTC. pyspark is an
optional extra (`pip install 'zendesk-audit[spark]'`); nothing here imports it at module level.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from zendesk_audit.models import BuildResult, Project, build_with_engine, lines_with_engine, status_with_engine
from zendesk_audit.models_engines import LEDGER_COLUMNS, LEDGER_TABLE, Engine, transpile
from zendesk_audit.models_seeds import Seed

SPARK_TABLES = ("audit_logs", "accounts")


def to_spark_sql(sql: str, dialect: str = "spark") -> str:
    """Model SQL (PostgreSQL dialect) as Spark SQL, with the rewrites sqlglot leaves out."""
    return transpile(sql, dialect)


class SparkEngine(Engine):
    """A SparkSession: databases for schemas, persistent views, seeds and ledger as tables."""

    name = "spark"
    dialect = "spark"
    transactional = False
    _types = {"text": "string", "integer": "int", "bigint": "bigint", "date": "date", "timestamp": "timestamp"}

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def execute(self, sql: str) -> None:
        self.spark.sql(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.spark.sql(to_spark_sql(sql)).collect()]

    def translate(self, sql: str) -> str:
        return to_spark_sql(sql)

    def replace_view(self, schema: str, name: str, body: str) -> bool:
        self.spark.sql(to_spark_sql(f"create or replace view {self.relation(schema, name)} as\n{body}"))
        return False

    def relations(self, schema: str) -> dict[str, str]:
        if not self.spark.catalog.databaseExists(schema):
            return {}
        return {
            table.name: ("view" if (table.tableType or "").upper() == "VIEW" else "table")
            for table in self.spark.catalog.listTables(schema)
            if not table.isTemporary
        }

    def columns(self, schema: str, name: str) -> list[str]:
        return [column.name for column in self.spark.catalog.listColumns(f"{schema}.{name}")]

    def create_schema(self, schema: str) -> None:
        self.spark.sql(f"create database if not exists `{schema}`")

    def _write_table(self, schema: str, name: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        ddl = ", ".join(f"`{column}` {self._types.get(kind, 'string')}" for column, kind in columns)
        frame = self.spark.createDataFrame(rows, schema=ddl)
        frame.write.mode("overwrite").saveAsTable(f"`{schema}`.`{name}`")

    def load_seed(self, schema: str, seed: Seed, exists: bool) -> bool:
        self._write_table(schema, seed.name, seed.columns, seed.rows)
        return False

    def ensure_ledger(self, schema: str) -> None:
        if LEDGER_TABLE not in self.relations(schema):
            self._write_table(schema, LEDGER_TABLE, list(LEDGER_COLUMNS), [])

    def write_ledger(self, schema: str, entries: list[tuple[str, str, int, str, datetime]]) -> None:
        ledger = self.read_ledger(schema)
        for kind, name, version, checksum, built_at in entries:
            ledger[(kind, name)] = (version, checksum, built_at)
        rows = [
            (name, version, checksum, built_at, kind)
            for (kind, name), (version, checksum, built_at) in sorted(ledger.items())
        ]
        # Spark cannot overwrite a table it is reading: materialise first (rows are plain tuples).
        self._write_table(schema, LEDGER_TABLE, list(LEDGER_COLUMNS), rows)



def local_path(bucket_url: str) -> str:
    """`file:///x` -> `/x`; other URLs (s3://, abfss://) pass through for Spark to resolve."""
    parsed = urlparse(bucket_url)
    return parsed.path if parsed.scheme == "file" else bucket_url


def register_parquet_dataset(spark: Any, bucket_url: str, dataset: str) -> list[str]:
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
    spark: Any,
    dataset: str,
    *,
    time_zone: str | None = None,
    sql_dir: str | os.PathLike[str] | None = None,
    seeds_dir: str | os.PathLike[str] | None = None,
) -> BuildResult:
    """Build the models as Spark views in the database `<dataset>_models` (see `build_models`)."""
    project = Project.load(sql_dir, seeds_dir)
    return build_with_engine(SparkEngine(spark), dataset, time_zone=time_zone, project=project)


def model_status_spark(spark: Any, dataset: str) -> list[Any]:
    return status_with_engine(SparkEngine(spark), dataset)


def demo_lines_spark(spark: Any, dataset: str) -> list[str]:
    return lines_with_engine(SparkEngine(spark), f"{dataset}_models")
