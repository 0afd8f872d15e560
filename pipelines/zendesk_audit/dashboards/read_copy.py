"""A read copy of the DuckDB file for BI tools: dashboards read the copy, loads write the original.

Why: DuckDB lets one process write a file or several read it, never both. Superset opening the
loaded file itself (read-only, no connection kept between queries) works, but every chart query
that meets a running load fails with DuckDB's lock error until the load ends, and a load that
meets a chart query must wait (`--wait-for-lock`). A read copy separates them: the load never
sees a reader, the dashboard never sees the writer; it shows the data of the last publish.

How: the original is opened read-only for the copy (so no writer runs meanwhile, waiting up to
`--wait-for-lock` like any reader), copied beside the target, its write-ahead log (if a crashed
writer left one) folded in, and the copy renamed over the target in one step (`os.replace`).
A query that had the old copy open finishes on it; the next one opens the new one.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from zendesk_audit.errors import ConfigurationError, ZendeskAuditError, first_line


@dataclass(frozen=True)
class PublishResult:
    source: Path
    target: Path
    size: int
    seconds: float

    def summary_line(self) -> str:
        return (f"published {self.source} to {self.target} ({self.size / 1e6:,.1f} MB) in {self.seconds:.2f} s: "
                "point the dashboards at the copy (zendesk-audit dashboards superset --duckdb-path "
                f"{self.target})")


def publish_read_copy(duckdb_path: str, target: str, wait_for_lock: float = 0.0) -> PublishResult:
    """Copy the DuckDB file to `target` for readers, replacing the previous copy in one step.

    Raises:
        ConfigurationError: the file does not exist, or the target is the file itself.
        DatabaseBusy: a load kept the file open for the whole wait.
        ZendeskAuditError: the copy could not be written.
    """
    import duckdb

    from zendesk_audit.load.locking import duckdb_session

    source = Path(duckdb_path).expanduser().resolve()
    destination = Path(target).expanduser().resolve()
    if not source.is_file():
        raise ConfigurationError(f"{duckdb_path} does not exist: load it first (zendesk-audit load), or pass --duckdb-path")
    if destination == source:
        raise ConfigurationError("--to must name another file than the loaded one (--duckdb-path)")
    started = time.monotonic()
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    try:
        with duckdb_session(str(source), read_only=True, wait_seconds=wait_for_lock):
            shutil.copyfile(source, partial)
            wal = source.with_name(source.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, partial.with_name(partial.name + ".wal"))
        if partial.with_name(partial.name + ".wal").exists():
            with duckdb.connect(str(partial)) as connection:  # folds the log into the copy
                connection.execute("checkpoint")
        os.replace(partial, destination)
    except OSError as exc:
        raise ZendeskAuditError(f"cannot write the read copy {destination}: {first_line(exc)}") from None
    finally:
        for leftover in (partial, partial.with_name(partial.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return PublishResult(source, destination, destination.stat().st_size, time.monotonic() - started)
