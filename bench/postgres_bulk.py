"""PostgreSQL against DuckDB: the same records loaded by `zendesk-audit load` into each; records/s and the ratio.

Both loads fetch from one sandbox process and run as `zendesk-audit load --json --no-models` in a
child process (see `throughput.loader`), so the difference is the destination's path: Parquet into
DuckDB, CSV through COPY into PostgreSQL. The machine's PostgreSQL is used (`ZENDESK_AUDIT_BENCH_POSTGRES`,
default `postgresql://postgres:postgres@127.0.0.1:5432/test`, a fresh schema dropped afterwards); the
row says so and skips when it is unreachable.

Run alone: `.venv/bin/python bench/postgres_bulk.py [--records 200000]`; `make bench` adds its row.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import SandboxProcess, loader, workdir  # noqa: E402

POSTGRES_URL = os.environ.get("ZENDESK_AUDIT_BENCH_POSTGRES", "postgresql://postgres:postgres@127.0.0.1:5432/test")
COMMAND = "zendesk-audit load --no-models [--destination postgres --dataset <fresh>]"


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), timeout=2):
            return True
    except OSError:
        return False


def _drop(dataset: str) -> None:
    import psycopg2

    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        for schema in (dataset, f"{dataset}_staging"):
            cursor.execute(f'drop schema if exists "{schema}" cascade')


def postgres_vs_duckdb(records: int) -> tuple[str, str, str, str]:
    """One bench row: (what, figure, target, command)."""
    what = f"full backfill of {records:,} records, PostgreSQL (CSV + COPY) against DuckDB (Parquet)"
    if not _reachable(POSTGRES_URL):
        host = urlparse(POSTGRES_URL).hostname
        return what, "skipped", f"PostgreSQL unreachable at {host}: start it or set ZENDESK_AUDIT_BENCH_POSTGRES", COMMAND
    sandbox = SandboxProcess("--records", str(records), "--seed", "3")
    dataset = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        on_duckdb = loader(sandbox.base_url, workdir(), "--no-models")
        on_postgres = loader(sandbox.base_url, workdir(), "--no-models", "--destination", "postgres", "--dataset", dataset,
                             env={"DESTINATION__POSTGRES__CREDENTIALS": POSTGRES_URL})
    finally:
        sandbox.stop()
        _drop(dataset)
    assert on_duckdb.records == on_postgres.records == records, (on_duckdb.records, on_postgres.records)
    figure = (f"PostgreSQL {on_postgres.rate:,.0f} records/s, DuckDB {on_duckdb.rate:,.0f} records/s: "
              f"PostgreSQL takes {on_postgres.seconds / on_duckdb.seconds:.2f}x DuckDB's time "
              f"({on_postgres.seconds:.1f} s against {on_duckdb.seconds:.1f} s)")
    return what, figure, "measured (no target)", COMMAND


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    what, figure, target, command = postgres_vs_duckdb(args.records)
    print(f"| {what} | {figure} | {target} | `{command}` |")


if __name__ == "__main__":
    main()
