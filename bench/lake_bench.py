"""DuckLake against the DuckDB file (issue 29): a whole load, and the BI tiles on the lake's marts.

1. `zendesk-audit load --no-models` of one sandbox into a DuckDB file, then into a DuckLake (SQLite
   catalog, local folder), each a child process: the lake's load time as a multiple of the file's
   (target <= 1.3x at 1,000,000 records).
2. The BI tiles of `models_bench.QUERIES` on marts stored in a DuckLake: the models bench's data is
   generated and the models built in a DuckDB file (as `models_bench` does), then every mart's rows
   are written into a DuckLake as its table of the same name (Parquet files behind the catalog),
   and the tiles run there through DuckDB with the lake attached (target <= 100 ms at 10,000,000).
   Building the models on the lake itself (dbt-duckdb, `tests/test_ducklake.py`) gives the same
   tables; copying them is the quicker way to the size.

Run alone: `.venv/bin/python bench/lake_bench.py [--records 1000000] [--tile-records 10000000]`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "pipelines"))

import duckdb  # noqa: E402
import models_bench  # noqa: E402
from throughput import SandboxProcess, loader, workdir  # noqa: E402

Row = Callable[[str, str, str, str], None]
LAKE_ENV = "DESTINATION__DUCKLAKE__CREDENTIALS__"
MARTS = ["off_hours_changes", "actor_activity_daily", "item_history", "sensitive_changes", "user_role_history"]


def load_ratio(records: int, row: Row) -> None:
    """The same backfill into a DuckDB file and into a DuckLake, each in a fresh working folder."""
    sandbox = SandboxProcess("--records", str(records), "--seed", "1")
    try:
        file_folder = workdir()
        into_file = loader(sandbox.base_url, file_folder, "--no-models")
        sandbox.reset()
        lake_folder = workdir()
        env = {LAKE_ENV + "CATALOG": f"sqlite:///{lake_folder / 'lake.sqlite'}",
               LAKE_ENV + "STORAGE__BUCKET_URL": str(lake_folder / "lake_files")}
        into_lake = loader(sandbox.base_url, lake_folder, "--no-models", "--destination", "ducklake", env=env)
    finally:
        sandbox.stop()
    ratio = into_lake.seconds / into_file.seconds
    target = f"<= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'}" if records >= 1_000_000 else "measured (target at 1,000,000)"
    row(f"load into DuckLake (SQLite catalog, local folder) against the DuckDB file, {records:,} records",
        f"{into_lake.seconds:.1f} s against {into_file.seconds:.1f} s ({ratio:.2f}x); "
        f"{into_lake.records:,} and {into_file.records:,} records", target,
        "zendesk-audit load --no-models [--destination ducklake]")


def lake_tiles(records: int, row: Row) -> None:
    """The BI tiles on the marts' rows stored in a DuckLake."""
    from zendesk_audit.load.duckdb_extensions import lake_extensions, load_extensions
    from zendesk_audit.load.pipeline import create_pipeline
    from zendesk_audit.models.build import build_models

    folder = Path(tempfile.mkdtemp(prefix="zendesk-audit-lake-bench-"))
    path = folder / "bench.duckdb"
    models_bench.generate(path, records)
    build_models(create_pipeline("duckdb", models_bench.DATASET, duckdb_path=str(path)))
    marts = models_bench.MARTS
    with duckdb.connect() as connection:
        load_extensions(connection, lake_extensions("sqlite", None))
        connection.execute(f"attach '{path}' as source (read_only)")
        connection.execute(f"attach 'ducklake:sqlite:{folder / 'lake.sqlite'}' as lake (data_path '{folder / 'files'}/')")
        connection.execute(f"create schema lake.{marts}")
        for mart in MARTS:
            connection.execute(f"create table lake.{marts}.{mart} as select * from source.{marts}.{mart}")
        connection.execute("detach source")
        connection.execute("use lake")
        subdomain, source_type, source_id, changes = connection.execute(
            f"select subdomain, source_type, source_id, count(*) as changes from {marts}.item_history group by all "
            "order by changes desc, source_id limit 1 offset (select count(distinct source_id) // 1000 "
            f"from {marts}.item_history)").fetchone()
        for name, sql in models_bench.QUERIES.items():
            query = sql.replace("{subdomain}", subdomain).replace("{source_type}", source_type).replace(
                "{source_id}", str(source_id)).format(m=marts)
            seconds = models_bench.timed(connection, query)
            target = f"<= 100 ms: {'met' if seconds <= 0.1 else 'NOT met'}" if records >= 10_000_000 else \
                "measured (target at 10,000,000)"
            label = f"{name} ({changes:,} changes)" if name == "one item's history" else name
            row(f"BI query '{label}' on the DuckLake's marts, {records:,} records", f"{seconds * 1000:.1f} ms", target,
                "bench/lake_bench.py lake_tiles")


def run(row: Row, records: int, tile_records: int) -> None:
    load_ratio(records, row)
    lake_tiles(tile_records, row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--tile-records", type=int, default=10_000_000)
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")

    def row(what: str, figure: str, target: str, command: str) -> None:
        print(f"| {what} | {figure} | {target} | `{command}` |", flush=True)

    run(row, args.records, args.tile_records)


if __name__ == "__main__":
    main()
