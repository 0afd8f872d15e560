"""The SQL models at scale: BI queries on the marts, incremental refresh, full build (issue 15's targets).

Rows are generated straight into the loaded table with the sandbox's generator (so they look like
real records) rather than fetched through the API: a real `zendesk-audit load` of a small sandbox
first (the table's schema and `accounts` as dlt writes them), then the generator's records, then,
past the generated base, copies of it shifted back in time with new ids (a longer history).

"Today's views" are the hand-written runner's models as they were before the dbt project (git
revision `BASELINE_REVISION`), created as views over the same rows.

Run alone: `.venv/bin/python bench/models_bench.py --records 1000000 [--records 10000000]`.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pipelines"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("DLT_DATA_DIR", tempfile.mkdtemp(prefix="zendesk-audit-models-bench-"))
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")

import duckdb  # noqa: E402

BASELINE_REVISION = "6ee12e2"
DATASET = "zendesk_audit"
MARTS = f"{DATASET}_models"
OLD = f"{DATASET}_old_views"
GENERATED_BASE = 1_000_000
Row = Callable[[str, str, str, str], None]

# The BI tiles of the issue, on `{m}` (the marts, or today's views).
QUERIES = {
    "weekly off-hours chart": (
        "select date_trunc('week', local_date) as week, off_hours_reason, count(*) from {m}.off_hours_changes "
        "group by 1, 2 order by 1, 2"
    ),
    "top actors": (
        "select actor_name, sum(changes) as changes from {m}.actor_activity_daily group by 1 order by 2 desc limit 10"
    ),
    "one item's history": (
        "select change_number, created_at, actor_name, previous_actor_name from {m}.item_history "
        "where subdomain = '{subdomain}' and source_type = '{source_type}' and source_id = {source_id} order by change_number"
    ),
    "sensitive changes by severity": (
        "select severity, count(*) from {m}.sensitive_changes group by severity, severity_rank order by severity_rank desc"
    ),
    "latest role changes": (
        "select changed_at, user_name, old_role, new_role, actor_name from {m}.user_role_history "
        "order by changed_at desc, audit_log_id desc limit 20"
    ),
}


def generate(path: Path, records: int) -> None:
    """`records` rows in `<dataset>.audit_logs` of a DuckDB file, as a load would leave them."""
    import pyarrow as pa

    from conftest import load_sandbox
    from zendesk_sandbox import Sandbox
    from zendesk_sandbox.config import SandboxConfig
    from zendesk_sandbox.data import RecordStore

    with Sandbox(records=1_000, seed=15) as sandbox:
        load_sandbox(sandbox, duckdb_path=path, dataset=DATASET)
    base = min(records, GENERATED_BASE)
    store = RecordStore(SandboxConfig(records=base, seed=16))
    rows = [store.record(seq) for seq in store.all_seqs()]
    names = ["id", "created_at", "action", "action_label", "actor_id", "actor_name", "ip_address", "source_id",
             "source_type", "source_label", "change_description", "url"]
    table = pa.table({name: [row.get(name) for row in rows] for name in names})
    del rows
    with duckdb.connect(str(path)) as connection:
        connection.register("generated", table)
        load_id = connection.execute(f"select min(_dlt_load_id) from {DATASET}.audit_logs").fetchone()[0]
        subdomain = connection.execute(f"select min(subdomain) from {DATASET}.audit_logs").fetchone()[0]
        connection.execute(
            f"insert into {DATASET}.audit_logs by name select * replace (cast(created_at as timestamptz) as created_at), "
            f"'{subdomain}' as subdomain, 'api' as _source, '{load_id}' as _dlt_load_id, "
            f"'{subdomain}:' || id as _dlt_id from generated where id not in (select id from {DATASET}.audit_logs)"
        )
        span = connection.execute(
            f"select epoch(max(created_at)) - epoch(min(created_at)) from {DATASET}.audit_logs").fetchone()[0]
        copy = 1
        while connection.execute(f"select count(*) from {DATASET}.audit_logs").fetchone()[0] < records:
            missing = records - connection.execute(f"select count(*) from {DATASET}.audit_logs").fetchone()[0]
            connection.execute(
                f"insert into {DATASET}.audit_logs by name select * replace ("
                f"id + {copy} * 100000000000000 as id, created_at - to_seconds({int(span) + 1} * {copy}) as created_at, "
                f"_dlt_id || ':{copy}' as _dlt_id) from {DATASET}.audit_logs where id < 100000000000000 limit {missing}"
            )
            copy += 1


def old_views(path: Path) -> bool:
    """Today's views (the hand-written runner's SQL at BASELINE_REVISION) over the same rows; False without git."""
    def show(name: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE_REVISION}:{name}"],
                              capture_output=True, text=True, check=True).stdout

    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", BASELINE_REVISION, "sql"],
                                capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return False
    seed_types = {"holidays": {"holiday_date": "DATE"}, "approved_actors": {"actor_id": "BIGINT"},
                  "incidents": {"started_at": "TIMESTAMPTZ", "lookback_hours": "INTEGER"}}
    order = ["sql/staging/stg_audit_logs.sql", "sql/intermediate/int_business_hours_prepared.sql",
             "sql/intermediate/int_audit_logs_business_hours_classified.sql",
             "sql/intermediate/int_audit_log_description_lines_split.sql",
             "sql/intermediate/int_audit_log_changes_parsed.sql"]
    order += sorted(name for name in listed if name.startswith("sql/marts/") and name.endswith(".sql"))
    with duckdb.connect(str(path)) as connection, tempfile.TemporaryDirectory() as folder:
        connection.execute(f"create schema if not exists {OLD}")
        for name in listed:
            if name.startswith("sql/seeds/") and name.endswith(".csv"):
                seed = Path(name).stem
                csv_path = Path(folder) / f"{seed}.csv"
                csv_path.write_text(show(name))
                types = seed_types.get(seed, {})
                header = csv_path.read_text().splitlines()[0].split(",")
                columns = ", ".join(f"'{column}': '{types.get(column, 'VARCHAR')}'" for column in header)
                connection.execute(f"create or replace table {OLD}.{seed} as select * from "
                                   f"read_csv('{csv_path}', header = true, columns = {{{columns}}})")
        for name in order:
            sql = show(name)
            sql = re.sub(r"\{\{\s*source\('(\w+)'\)\s*\}\}", rf"{DATASET}.\1", sql)
            sql = re.sub(r"\{\{\s*(ref|seed)\('(\w+)'\)\s*\}\}", rf"{OLD}.\2", sql)
            sql = re.sub(r"\{\{\s*var\('time_zone'\)\s*\}\}", "cast(null as varchar)", sql)
            connection.execute(f"create or replace view {OLD}.{Path(name).stem} as {sql}")
    return True


def timed(connection: duckdb.DuckDBPyConnection, sql: str, runs: int = 5) -> float:
    """Median seconds of `runs` runs after one warm-up."""
    connection.execute(sql).fetchall()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        connection.execute(sql).fetchall()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def append_new_records(path: Path, count: int) -> None:
    """A load of `count` new records, as the next incremental load brings them: the newest `count`
    records copied with new ids to just after the last one (the same actors and items), in a new dlt load."""
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            f"insert into {DATASET}.audit_logs by name select * replace ("
            f"id + 900000000000000000 + row_number() over () as id, "
            f"created_at + (max(created_at) over () - min(created_at) over ()) + interval 1 second as created_at, "
            f"'{time.time():.6f}' as _dlt_load_id, _dlt_id || ':new' as _dlt_id) "
            f"from (select * from {DATASET}.audit_logs order by created_at desc limit {count})"
        )


def bench(records: int, row: Row, baseline: bool) -> None:
    from zendesk_audit.load.pipeline import create_pipeline
    from zendesk_audit.models.build import build_models

    folder = Path(tempfile.mkdtemp(prefix="zendesk-audit-models-bench-"))
    path = folder / "bench.duckdb"
    started = time.perf_counter()
    generate(path, records)
    row(f"models bench data, {records:,} records", f"generated in {time.perf_counter() - started:.0f} s",
        "sandbox generator + shifted copies", "bench/models_bench.py generate")
    pipeline = create_pipeline("duckdb", DATASET, duckdb_path=str(path))
    started = time.perf_counter()
    result = build_models(pipeline)
    row(f"full build of all models, {records:,} records", f"{time.perf_counter() - started:.1f} s "
        f"({len(result.built)} models, {len(result.seeds_loaded)} seeds)", "measured (no target)",
        "zendesk-audit models build (first build)")
    have_old = baseline and old_views(path)
    with duckdb.connect(str(path), read_only=True) as connection:
        # A busy item, not the busiest: the one at the 99.9th percentile of changes per item.
        subdomain, source_type, source_id, changes = connection.execute(
            f"select subdomain, source_type, source_id, count(*) as changes from {MARTS}.item_history group by all "
            "order by changes desc, source_id limit 1 offset (select count(distinct source_id) // 1000 "
            f"from {MARTS}.item_history)").fetchone()
        for name, sql in QUERIES.items():
            query = sql.replace("{subdomain}", subdomain).replace("{source_type}", source_type).replace(
                "{source_id}", str(source_id))
            ours = timed(connection, query.format(m=MARTS))
            figure = f"{ours * 1000:.1f} ms on the mart"
            target = f"<= 100 ms: {'met' if ours <= 0.1 else 'NOT met'}" if records >= 10_000_000 else "measured"
            if have_old:
                before = timed(connection, query.format(m=OLD), runs=3)
                figure += f"; {before * 1000:,.0f} ms on today's view ({before / ours:,.0f}x)"
                target = f">= 50x: {'met' if before / ours >= 50 else 'NOT met'}"
            label = f"{name} ({changes:,} changes)" if name == "one item's history" else name
            row(f"BI query '{label}', {records:,} records", figure, target, "bench/models_bench.py QUERIES")
    append_new_records(path, 10_000)
    started = time.perf_counter()
    result = build_models(pipeline)
    seconds = time.perf_counter() - started
    target = f"<= 5 s: {'met' if seconds <= 5 else 'NOT met'}" if records >= 10_000_000 else "measured"
    row(f"incremental refresh after 10,000 new records on {records:,}",
        f"{seconds:.2f} s ({len(result.refreshed)} marts refreshed, {len(result.built)} rebuilt)", target,
        "zendesk-audit models build (after a load)")


def run(row: Row, sizes: list[int], baseline_at: int = 1_000_000) -> None:
    """The models bench at each size; today's views are timed at `baseline_at` only (they take minutes above)."""
    for records in sizes:
        bench(records, row, baseline=records == baseline_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, action="append", help="records (repeat for several sizes)")
    args = parser.parse_args()

    def row(what: str, figure: str, target: str, command: str) -> None:
        print(f"| {what} | {figure} | {target} | `{command}` |", flush=True)

    run(row, args.records or [1_000_000])


if __name__ == "__main__":
    main()
