"""The sealed evidence export: a period's records and every model's rows, as CSV and Parquet, with a manifest.

An auditor asks for "everything that happened between these dates, and proof it was not edited".
`export_evidence` writes, for the period (and optionally one subdomain):

- `records/<table>.{csv,parquet}`: the loaded tables (`audit_logs`, `accounts`), filtered on `created_at`;
- `models/<model>.{csv,parquet}`: every model's rows (views of `<dataset>_models`), filtered on the
  model's time column (`created_at`, `changed_at` or `activity_date`; see `period.py`), whole otherwise;
- `seeds/<seed>.{csv,parquet}`: the rules the models applied (business hours, sensitive rules, ...);
- `manifest.json`: tool and version, generated_at, period, destination and dataset, the model
  versions built, and per file its row count, the query that produced it, its size and SHA-256;
- `SHA256SUMS`: every file including `manifest.json`, in `sha256sum -c` format, so the export can
  be checked without this tool.

The CSVs follow `csv_safety`'s one policy (every field quoted, `\\r\\n`, control characters
escaped, formulas neutralised), so each row is one line and a hostile cell neither runs nor splits
a row; the hashes cover those bytes. `verify_evidence` recomputes every hash and count. SHA-256
proves the files match the manifest; it is not a signature: keep the manifest's hash (printed by
the export) somewhere the export's recipient cannot edit, and pass it to `verify` with
`--manifest-sha256`.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zendesk_audit.audit.csv_safety import write_csv
from zendesk_audit.audit.period import Period, fetch, iso, require_views
from zendesk_audit.errors import ConfigurationError
from zendesk_audit.models.warehouse import quote_identifier

if TYPE_CHECKING:
    import dlt
    import pyarrow as pa

    from zendesk_audit.load.ducklake import LakeSnapshot
    from zendesk_audit.models.warehouse import DltSqlEngine

MANIFEST_NAME = "manifest.json"
SUMS_NAME = "SHA256SUMS"
MANIFEST_FORMAT = 1
RECORD_TABLES = ("audit_logs", "accounts")

__all__ = ["EvidenceResult", "ExportedFile", "export_evidence", "manifest_sha256", "tool_version", "verify_evidence"]


def tool_version() -> str:
    try:
        return metadata.version("zendesk-audit")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class ExportedFile:
    """One file of the export, as the manifest lists it."""

    path: str
    relation: str
    format: str
    rows: int
    bytes: int
    sha256: str
    query: str


@dataclass
class EvidenceResult:
    """What `export_evidence` wrote."""

    out_dir: str
    period: Period
    files: list[ExportedFile] = field(default_factory=list)
    manifest_sha256: str = ""
    seconds: float = 0.0
    snapshot: LakeSnapshot | None = None

    def summary_line(self) -> str:
        relations = len({item.relation for item in self.files})
        records = sum(item.rows for item in self.files if item.path == "records/audit_logs.csv")
        read = f" from {self.snapshot.words()} (--as-of {self.snapshot.snapshot_id} reproduces it)" if self.snapshot else ""
        return (
            f"evidence: {records:,} records and {relations} relations ({len(self.files)} files) for "
            f"{self.period.label()}{read} in {self.out_dir} in {self.seconds:.1f} s; manifest sha256 {self.manifest_sha256}"
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_sha256(out_dir: str | Path) -> str:
    """The SHA-256 of `manifest.json`: record it elsewhere to make the export tamper-evident."""
    return sha256_file(Path(out_dir) / MANIFEST_NAME)


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ConfigurationError(f"{out_dir} exists and is not an empty folder: evidence goes to a new folder")
    for sub in ("records", "models", "seeds"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)


def _arrow_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    return value


def _arrow_table(columns: list[str], rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows as a pyarrow table; a column pyarrow cannot type (mixed values) is written as text."""
    import pyarrow as pa

    arrays = []
    for index, _ in enumerate(columns):
        values = [_arrow_value(row[index]) for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if value is None else str(value) for value in values], pa.string()))
    return pa.Table.from_arrays(arrays, names=columns)


def _write_relation(out_dir: Path, folder: str, name: str, relation: str, columns: list[str], rows: list[tuple[Any, ...]],
                    query: str) -> list[ExportedFile]:
    import pyarrow.parquet as pq

    written = []
    csv_path = out_dir / folder / f"{name}.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as handle:
        write_csv(handle, columns, rows)
    parquet_path = out_dir / folder / f"{name}.parquet"
    pq.write_table(_arrow_table(columns, rows), parquet_path, compression="zstd")
    for path, kind in ((csv_path, "csv"), (parquet_path, "parquet")):
        written.append(
            ExportedFile(f"{folder}/{path.name}", relation, kind, len(rows), path.stat().st_size, sha256_file(path), query)
        )
    return written


def _select(engine: DltSqlEngine, schema: str, name: str, period: Period) -> str:
    columns = engine.columns(schema, name)
    listed = ", ".join(quote_identifier(column) for column in columns)
    order = ", ".join(str(position) for position in range(1, len(columns) + 1))
    return f"select {listed} from {engine.relation(schema, name)}{period.where(columns)} order by {order}"


def _model_versions(engine: DltSqlEngine, schema: str, relations: dict[str, str]) -> dict[str, dict[str, Any]]:
    if "model_ledger" not in relations:
        return {}
    rows = engine.query(f"select kind, model, version, checksum, built_at from {engine.relation(schema, 'model_ledger')} "
                        "where kind in ('model', 'seed')")  # not the build's rows (inputs, settings): no models
    return {
        str(model): {"kind": str(kind), "version": None if version is None else int(version), "checksum": str(checksum),
                     "built_at": built_at.isoformat() if isinstance(built_at, (datetime, date)) else str(built_at)}
        for kind, model, version, checksum, built_at in sorted(rows, key=lambda row: (str(row[0]), str(row[1])))
    }


def export_evidence(pipeline: dlt.Pipeline, out_dir: str | Path, period: Period) -> EvidenceResult:
    """Write the period's records, every model's rows, the seeds and the manifest to `out_dir`.

    Args:
        pipeline: the dlt pipeline whose destination holds the data and the built models.
        out_dir: a new or empty folder.
        period: `[start, end)` in UTC and an optional subdomain (`Period.parse`).

    Raises:
        ConfigurationError: `out_dir` is not empty, or the models are not built.

    Example:
        >>> result = export_evidence(pipeline, "evidence-2026-q3", Period.parse("2026-07-01", "2026-10-01"))
        >>> print(result.summary_line())
    """
    from zendesk_audit.load.pipeline import read_snapshot
    from zendesk_audit.models.build import model_names, models_schema_name
    from zendesk_audit.models.dbt_project import default_sql_dir
    from zendesk_audit.models.warehouse import open_engine

    started = time.monotonic()
    out = Path(out_dir)
    dataset = pipeline.dataset_name
    schema = models_schema_name(dataset)
    result = EvidenceResult(str(out), period, snapshot=read_snapshot(pipeline))
    with open_engine(pipeline) as engine:
        require_views(engine, dataset, ["stg_audit_logs"])
        raw = engine.relations(dataset)
        derived = engine.relations(schema)
        # The models by their public names (a mart's latest version); the seeds the project loads.
        names = [name for name in model_names() if name in derived]
        seeds = sorted(path.stem for path in (default_sql_dir() / "seeds").glob("*.csv") if path.stem in derived)
        _prepare_out_dir(out)
        plan = [("records", dataset, name) for name in RECORD_TABLES if name in raw]
        plan += [("models", schema, name) for name in names]
        plan += [("seeds", schema, name) for name in seeds]
        for folder, relation_schema, name in plan:
            query = _select(engine, relation_schema, name, period)
            columns, rows = fetch(engine, query)
            result.files += _write_relation(out, folder, name, f"{relation_schema}.{name}", columns, rows, query)
        versions = _model_versions(engine, schema, derived)
    manifest = {
        "format": MANIFEST_FORMAT,
        "tool": "zendesk-audit",
        "tool_version": tool_version(),
        "generated_at": iso(datetime.now(timezone.utc)),
        "period": period.as_dict(),
        "period_rule": "from inclusive, to exclusive, UTC; models filtered on created_at, changed_at or "
                       "activity_date (local date), whole when they have none",
        "destination": pipeline.destination.destination_name,
        "dataset": dataset,
        # A DuckLake's snapshot that every file was read from: `--as-of <id>` reads it again.
        **({"lake_snapshot": result.snapshot.as_dict()} if result.snapshot else {}),
        "models": versions,
        "files": [asdict(item) for item in result.files],
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    result.manifest_sha256 = manifest_sha256(out)
    sums = [(item.sha256, item.path) for item in result.files] + [(result.manifest_sha256, MANIFEST_NAME)]
    (out / SUMS_NAME).write_text("".join(f"{digest}  {path}\n" for digest, path in sums), encoding="utf-8")
    if result.snapshot is not None:
        # `lake maintain` keeps this snapshot, so `--as-of` reproduces the export however old it gets.
        from zendesk_audit.load.ducklake import unpinned
        from zendesk_audit.load.lake_maintenance import remember_export
        from zendesk_audit.load.pipeline import create_pipeline

        remember_export(create_pipeline(unpinned(pipeline.destination), dataset), result.snapshot,
                        result.manifest_sha256, str(out))
    result.seconds = time.monotonic() - started
    return result


def _count_rows(path: Path, kind: str) -> int:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with open(path, encoding="utf-8", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def _safe(out: Path, relative: str) -> Path | None:
    candidate = (out / relative).resolve()
    return candidate if candidate.is_relative_to(out.resolve()) and not os.path.isabs(relative) else None


def verify_evidence(out_dir: str | Path, expected_manifest_sha256: str | None = None) -> list[str]:
    """Recompute every hash and row count of an export; one line per problem, empty when intact.

    Checks: the manifest parses (and has the expected SHA-256 when given); every listed file exists
    with its size, SHA-256 and row count; `SHA256SUMS` agrees; no file was added.

    Raises:
        ConfigurationError: `out_dir` is not a folder.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise ConfigurationError(f"{out} is not a folder: pass the folder `zendesk-audit evidence --out` wrote")
    manifest_path = out / MANIFEST_NAME
    if not manifest_path.is_file():
        return [f"{MANIFEST_NAME}: missing, so nothing can be verified"]
    problems: list[str] = []
    actual_manifest = manifest_sha256(out)
    if expected_manifest_sha256 and actual_manifest != expected_manifest_sha256.strip().lower():
        problems.append(f"{MANIFEST_NAME}: SHA-256 is {actual_manifest}, expected {expected_manifest_sha256.strip()}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = list(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        return problems + [f"{MANIFEST_NAME}: not a readable manifest ({type(exc).__name__})"]
    listed = {MANIFEST_NAME, SUMS_NAME}
    for entry in files:
        relative = str(entry.get("path", ""))
        path = _safe(out, relative)
        if path is None:
            problems.append(f"{relative}: path outside the export folder")
            continue
        listed.add(relative)
        if not path.is_file():
            problems.append(f"{relative}: missing")
            continue
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{relative}: SHA-256 is {digest}, the manifest says {entry.get('sha256')} (changed since export)")
            continue
        size = path.stat().st_size
        if size != entry.get("bytes"):
            problems.append(f"{relative}: {size} bytes, the manifest says {entry.get('bytes')}")
        rows = _count_rows(path, str(entry.get("format")))
        if rows != entry.get("rows"):
            problems.append(f"{relative}: {rows} rows, the manifest says {entry.get('rows')}")
    problems += _check_sums(out, {str(entry.get("path")): str(entry.get("sha256")) for entry in files}, actual_manifest)
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_file() and relative not in listed:
            problems.append(f"{relative}: not in the manifest (added after export)")
    return problems


def snapshot_line(out_dir: str | Path) -> str | None:
    """Whether the lake still keeps the snapshot an export was read from (its manifest's `lake_snapshot`),
    as one line; None for an export without one. The lake is the one dlt's configuration names
    (`[destination.ducklake]`), with the manifest's dataset."""
    try:
        manifest = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
        snapshot_id = int(manifest["lake_snapshot"]["id"])
        dataset = str(manifest.get("dataset") or "zendesk_audit")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from zendesk_audit.load.ducklake import lake_name, snapshots
    from zendesk_audit.load.pipeline import create_pipeline

    try:
        pipeline = create_pipeline("ducklake", dataset, read_only=True)
        with pipeline.sql_client() as client:
            kept = {item.snapshot_id for item in snapshots(client, lake_name(pipeline.destination))}
    except Exception as exc:  # noqa: BLE001 - the files are checked; the lake is a bonus
        from zendesk_audit.models.warehouse import first_error_line

        return f"lake snapshot {snapshot_id}: cannot check the lake ({first_error_line(exc)})"
    if snapshot_id in kept:
        return f"lake snapshot {snapshot_id} is still in the lake: `--as-of {snapshot_id}` reproduces this export"
    return f"lake snapshot {snapshot_id} is no longer in the lake (expired): this export cannot be reproduced from it"


def _check_sums(out: Path, expected: dict[str, str], manifest_digest: str) -> list[str]:
    sums_path = out / SUMS_NAME
    if not sums_path.is_file():
        return [f"{SUMS_NAME}: missing"]
    expected = {**expected, MANIFEST_NAME: manifest_digest}
    found: dict[str, str] = {}
    for line in sums_path.read_text(encoding="utf-8").splitlines():
        digest, _, path = line.partition("  ")
        found[path.strip()] = digest.strip()
    problems = [f"{SUMS_NAME}: {path} is {found.get(path)}, not {digest}" for path, digest in expected.items()
                if found.get(path) != digest]
    problems += [f"{SUMS_NAME}: lists {path}, which the manifest does not" for path in found if path not in expected]
    return problems
