"""`zendesk-audit lake maintain`: a DuckLake's small files merged, old snapshots expired, kept evidence intact.

Every commit of a DuckLake is a snapshot, and every load chunk, merge and models build commits
several: the lake grows small Parquet files and a long list of snapshots, each keeping the files
it reads. Maintenance, in DuckLake's own calls:

1. `ducklake_flush_inlined_data`: rows the catalog holds inline (small inserts) go to Parquet;
2. `ducklake_merge_adjacent_files`: small files of a table become fewer, larger ones;
3. `ducklake_expire_snapshots`: snapshots older than the retention are dropped, except the latest
   and every snapshot an evidence export names (`evidence_snapshots`, written by `remember_export`):
   an auditor's `--as-of` must keep working however old the export is;
4. `ducklake_cleanup_old_files`: files no kept snapshot reads any more are deleted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from zendesk_audit.load.ducklake import LakeSnapshot, lake_configuration, lake_name, snapshots

if TYPE_CHECKING:
    import dlt

EVIDENCE_SNAPSHOTS = "evidence_snapshots"
DEFAULT_KEEP_DAYS = 30


@dataclass
class MaintenanceResult:
    """What `maintain` did."""

    snapshots_before: int = 0
    expired: list[int] = field(default_factory=list)
    kept_for_evidence: list[int] = field(default_factory=list)
    files_before: int = 0
    files_after: int = 0

    def summary_line(self) -> str:
        kept = (f", {len(self.kept_for_evidence)} kept for evidence exports ({', '.join(map(str, self.kept_for_evidence))})"
                if self.kept_for_evidence else "")
        return (f"lake maintain: {self.files_before:,} data files merged into {self.files_after:,}; "
                f"{len(self.expired):,} of {self.snapshots_before:,} snapshots expired{kept}")


def _evidence_table(client: Any, dataset: str) -> str:
    schema = client.capabilities.escape_identifier(f"{dataset}_models")
    return f"{schema}.{client.capabilities.escape_identifier(EVIDENCE_SNAPSHOTS)}"


def remember_export(pipeline: dlt.Pipeline, snapshot: LakeSnapshot, manifest_sha256: str, out_dir: str) -> None:
    """Record that an evidence export was read from `snapshot`, so `maintain` never expires it.

    `pipeline`: the lake as it is now (not pinned: this writes a row, one more snapshot).
    """
    with pipeline.sql_client() as client:
        table = _evidence_table(client, pipeline.dataset_name)
        schema = client.capabilities.escape_identifier(f"{pipeline.dataset_name}_models")
        client.execute_sql(f"create schema if not exists {schema}")
        client.execute_sql(
            f"create table if not exists {table} (snapshot_id bigint, snapshot_time varchar, manifest_sha256 varchar, "
            "out_dir varchar, exported_at timestamp with time zone)"
        )
        client.execute_sql(f"insert into {table} values (?, ?, ?, ?, ?)", snapshot.snapshot_id, snapshot.snapshot_time,
                           manifest_sha256, out_dir, datetime.now(timezone.utc))


def evidence_snapshots(client: Any, dataset: str) -> set[int]:
    """The snapshots evidence exports name; none when no export was made."""
    try:
        rows = client.execute_sql(f"select distinct snapshot_id from {_evidence_table(client, dataset)}")
    except Exception:  # noqa: BLE001 - no export yet: no table
        return set()
    return {int(row[0]) for row in rows or []}


def _data_files(client: Any, lake: str) -> int:
    rows = client.execute_sql(f"select count(*) from {lake}.ducklake_data_file where end_snapshot is null")
    return int(rows[0][0]) if rows else 0


def maintain(pipeline: dlt.Pipeline, keep_days: float = DEFAULT_KEEP_DAYS, now: datetime | None = None) -> MaintenanceResult:
    """Merge small files and expire snapshots older than `keep_days`, except the latest and those
    evidence exports name; then delete the files no kept snapshot reads.

    Raises:
        ZendeskAuditError: the lake cannot be opened (one line).
    """
    moment = now or datetime.now(timezone.utc)
    result = MaintenanceResult()
    with pipeline.sql_client() as client:
        lake = lake_name(pipeline.destination)
        name = str(lake_configuration(pipeline.destination).credentials.ducklake_name)
        quoted = "'" + name.replace("'", "''") + "'"
        # DuckLake attaches the catalog's own tables as `__ducklake_metadata_<lake>`.
        meta = client.capabilities.escape_identifier(f"__ducklake_metadata_{name}")
        result.files_before = _data_files(client, meta)
        client.execute_sql(f"call ducklake_flush_inlined_data({quoted})")
        client.execute_sql(f"call ducklake_merge_adjacent_files({quoted})")
        kept = snapshots(client, lake)
        result.snapshots_before = len(kept)
        named = evidence_snapshots(client, pipeline.dataset_name)
        cutoff = moment - timedelta(days=keep_days)
        old = [item for item in kept[:-1] if item.moment < cutoff]
        result.kept_for_evidence = sorted(item.snapshot_id for item in old if item.snapshot_id in named)
        result.expired = [item.snapshot_id for item in old if item.snapshot_id not in named]
        if result.expired:
            versions = ", ".join(str(snapshot_id) for snapshot_id in result.expired)
            client.execute_sql(f"call ducklake_expire_snapshots({quoted}, versions => [{versions}])")
        client.execute_sql(f"call ducklake_cleanup_old_files({quoted}, cleanup_all => true)")
        result.files_after = _data_files(client, meta)
    return result
