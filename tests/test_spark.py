"""The dbt project on Spark (dbt-spark, session mode) over the filesystem destination's Parquet files.

The three Spark proofs live in this one file so that they share one JVM and one SparkSession
(the `spark` fixture): under `make test`'s `--dist loadfile` a file runs in one worker, so the
JVM starts once instead of once per test file. Each test keeps its own Spark databases
(`known`, `schedules`, `detect` and their `_models`), its own seeds and its own dbt work folder,
so what one builds cannot answer for another. Their data sets and answers come from the files
that test the same models on DuckDB and PostgreSQL:

- tests/test_sql_models.py: every model gives the same known answers as on DuckDB;
- tests/test_schedule_models.py: the schedule encodings and each account's business hours;
- tests/test_detections_sql.py: the detection rules fire on the same records, and the compiler's
  conditions hold on Spark SQL over the hard values.
"""
from __future__ import annotations

import importlib
import subprocess
from collections.abc import Iterator
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from test_detections_sql import (
    _COLUMN_TYPES,
    EDGE_RECORDS,
    _check_cases,
    _check_edges,
    _edge_rules,
    _expected_rows,
    _row,
    case_sandbox,  # noqa: F401 (a fixture)
)
from test_schedule_models import (
    OFF_HOURS,
    SCHEDULES,
    expected_off_hours,
    fill,
    load,
    records_of,
    rows,
    schedule_rows,
    seeds_with_a_holiday,
)
from test_sql_models import (
    actual_answers,
    assert_same_answers,
    expected_answers,
    known_data,  # noqa: F401 (a fixture)
    seeds_dir,  # noqa: F401 (a fixture)
)

from conftest import load_sandbox
from zendesk_audit.models.build import model_names
from zendesk_audit.models.detection_rules import load_detection_rules
from zendesk_sandbox import Sandbox

UTC = timezone.utc

# The JVM and three dbt builds on one core: a few minutes on a quiet machine, longer when the two
# cores are shared with other work. A hang still ends, at 15 minutes a test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _spark_missing() -> str | None:
    try:
        importlib.import_module("pyspark")
    except ImportError:
        return "pyspark is not installed: pip install 'zendesk-audit[spark]' (about 300 MB) to run the Spark test"
    try:
        importlib.import_module("dbt.adapters.spark")
    except ImportError:
        return "dbt-spark is not installed: pip install 'zendesk-audit[spark]' to run the Spark test"
    try:
        subprocess.run(["java", "-version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "no Java runtime: Spark needs Java 17 or later on PATH (or JAVA_HOME)"
    return None


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local Spark session (one JVM) for the file: one core, UTC, no UI, one shuffle partition,
    its warehouse in a temporary folder.

    Tuned for a few thousand rows, where compiling costs more than running: no code generation
    (whole-stage or per expression: Spark interprets the plan), no adaptive re-planning, and the
    JVM's quick compiler only (C1) with the serial collector. The JVM's CPU for this file went from
    103 s to 63 s (all three tests, measured with /proc/stat); the SQL and its answers are the same.
    """
    reason = _spark_missing()
    if reason:
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("zendesk-audit-test")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark") / "warehouse"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def query_on(spark: Any) -> Any:
    def query(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in spark.sql(sql).collect()]

    return query


# ----------------------------------------------------------------------------- the models' known answers
def test_spark_gives_the_same_known_answers(
    spark: Any, known_data: dict[str, Any], seeds_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The dbt project with dbt-spark in session mode over the filesystem destination's Parquet files."""
    from zendesk_audit.models.spark import build_models_spark, register_parquet_dataset

    bucket = tmp_path / "lake"
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", bucket.as_uri())
    load_sandbox(known_data["sandbox"], destination="filesystem", dataset="known")
    assert list((bucket / "known" / "audit_logs").glob("*.parquet"))
    assert register_parquet_dataset(spark, bucket.as_uri(), "known") == ["audit_logs", "accounts"]
    built = build_models_spark(spark, "known", work_dir=tmp_path / "dbt", seeds_dir=seeds_dir)
    assert sorted(built) == sorted(model_names())

    actual = actual_answers(query_on(spark), "known_models")
    # Spark's TIMESTAMP is UTC here (session time zone): make it aware like the other engines'.
    actual["items"] = {row[:2] + (row[2].replace(tzinfo=UTC) if row[2] else None,) + row[3:] for row in actual["items"]}
    actual["schedules"] = {row[:-2] + tuple(value.replace(tzinfo=UTC) if value else None for value in row[-2:])
                           for row in actual["schedules"]}
    assert_same_answers(actual, expected_answers(known_data["records"], seeds_dir, "Europe/Paris"))


# ----------------------------------------------------------------------------- schedules
def test_spark_reads_every_encoding_and_judges_each_account_alike(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same two accounts through dbt-spark over the filesystem destination's Parquet files."""
    from zendesk_audit.models.spark import build_models_spark, register_parquet_dataset

    seeds = seeds_with_a_holiday(tmp_path)
    bucket = tmp_path / "lake"
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", bucket.as_uri())
    with Sandbox(records=0, subdomain="acme") as acme, Sandbox(records=0, subdomain="plain") as plain:
        fill(acme, plain)
        lake = {"destination": "filesystem", "dataset": "schedules", "path": tmp_path / "unused.duckdb"}
        for sandbox in (acme, plain):  # one pipeline per account, as `zendesk-audit load` runs them
            load(sandbox, lake)
        records = records_of(acme) + records_of(plain)
    register_parquet_dataset(spark, bucket.as_uri(), "schedules")
    build_models_spark(spark, "schedules", work_dir=tmp_path / "dbt", seeds_dir=seeds)
    loaded = spark.sql("select subdomain, count(*) from schedules.audit_logs group by 1").collect()
    assert sorted(tuple(row) for row in loaded) == [("acme", 21), ("plain", 16)]

    query = query_on(spark)
    # Spark's TIMESTAMP is UTC here (session time zone): make it aware like the other engines'.
    history = {row[:-2] + tuple(value.replace(tzinfo=UTC) if value else None for value in row[-2:])
               for row in rows(query, SCHEDULES.format(m="schedules_models"))}
    assert history == schedule_rows(records)
    assert rows(query, OFF_HOURS.format(m="schedules_models")) == expected_off_hours(records, seeds)


# ----------------------------------------------------------------------------- detections
def test_spark_fires_the_same_rules(
    spark: Any, case_sandbox: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The cases through the filesystem destination and dbt-spark, and the hard values straight on Spark SQL."""
    from zendesk_audit.models.spark import build_models_spark, register_parquet_dataset

    bucket = tmp_path / "lake"
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", bucket.as_uri())
    load_sandbox(case_sandbox["sandbox"], destination="filesystem", dataset="detect")
    register_parquet_dataset(spark, bucket.as_uri(), "detect")
    build_models_spark(spark, "detect", work_dir=tmp_path / "dbt")
    found_rows = query_on(spark)("select audit_log_id, rule_id, severity from detect_models.sensitive_changes")
    found = set(found_rows)
    assert len(found) == len(found_rows)
    records, rules = case_sandbox["records"], load_detection_rules()
    _check_cases(found, case_sandbox["ids"], records, rules)
    assert found == _expected_rows(records, rules)
    # The hard values, straight on Spark SQL.
    edge_rules = _edge_rules(tmp_path)
    columns = list(_row(EDGE_RECORDS[0]))
    from pyspark.sql.types import (
        BooleanType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    types = {"bigint": LongType(), "boolean": BooleanType(), "timestamp with time zone": TimestampType()}
    schema = StructType([StructField(name, types.get(_COLUMN_TYPES.get(name, ""), StringType())) for name in columns])
    frame = spark.createDataFrame([[_row(record)[name] for name in columns] for record in EDGE_RECORDS], schema)
    frame.createOrReplaceTempView("edge_rows")
    _check_edges(edge_rules, "spark", query_on(spark))
