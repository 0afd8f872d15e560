"""Seed CSV files (`sql/seeds/*.csv`): what users edit, validated row by row before dbt loads them.

A bad row fails the build with `file:line: reason`, before anything is written, so a typo in
business hours can never silently turn every change into an off-hours change. dbt then loads the
checked copy (`write_checked_seeds`): weekdays, severities and times in one spelling, every
column present, so the models need not guess.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from zendesk_audit.errors import ConfigurationError, SeedError
from zendesk_audit.settings import SQL_DIR
from zendesk_audit.times import parse_utc

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SEVERITY_SEED = "severities"
# Written by each build from the Sigma rules (models/detection_sql.py), never edited by hand.
GENERATED_SEEDS = ("detection_rules",)
# Seeds that are no more, with what replaced them: a copy left in a seeds folder fails the build.
RETIRED_SEEDS = {
    "sensitive_rules": (
        "sensitive rules are Sigma rules now (sql/detections/*.yml): write each row as a Sigma rule file in a "
        "folder named by --detections-dir (config models.detections_dir), then delete this file (see docs/detections.md)"
    ),
}
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class _RowError(ValueError):
    pass


@dataclass(frozen=True)
class SeedColumn:
    """One column: its SQL type (`text`, `integer`, `date`, `timestamp`) and how to read a cell."""

    name: str
    sql_type: str = "text"
    required: bool = False
    default: Any = None
    parse: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class SeedSpec:
    name: str
    columns: tuple[SeedColumn, ...]
    # Each entry is a column, or a tuple of columns unique together (the first one names the error).
    unique: tuple[str | tuple[str, ...], ...] = ()
    check: Callable[[dict[str, Any]], None] | None = None


@dataclass
class Seed:
    """A validated seed: typed rows ready to load, and a checksum to skip unchanged reloads."""

    name: str
    path: Path
    columns: list[tuple[str, str]]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    checksum: str = ""


def _weekday(text: str) -> str:
    value = text.strip().lower()
    for day in WEEKDAYS:
        if value in (day, day[:3]):
            return day
    raise _RowError(f"unknown weekday {text!r} (use monday .. sunday)")


def _clock(text: str) -> str:
    value = text.strip()
    match = _CLOCK.match(value)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise _RowError(f"bad time {text!r} (use HH:MM, 00:00 .. 24:00)")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _RowError(f"bad date {text!r} (use YYYY-MM-DD)") from None


def _utc_time(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError:
        raise _RowError(f"bad time {text!r} (use ISO 8601 in UTC, e.g. 2026-10-30T14:00:00Z)") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise _RowError(f"bad number {text!r} (use a whole number)") from None
    if value <= 0:
        raise _RowError(f"{value} must be greater than 0")
    return value


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise _RowError(f"bad id {text!r} (use the numeric Zendesk id)") from None


def read_severity_ranks(seeds_dir: Path | None = None) -> dict[str, int]:
    """Each severity and its rank, lowest first, from seed `severities` (the scale's one definition)."""
    path = Path(seeds_dir or SQL_DIR / "seeds") / f"{SEVERITY_SEED}.csv"
    if not path.exists():
        path = SQL_DIR / "seeds" / f"{SEVERITY_SEED}.csv"
    seed = read_seed(path)
    return {str(name): int(rank) for name, rank in sorted(seed.rows, key=lambda row: row[1])}


def read_severities(seeds_dir: Path | None = None) -> tuple[str, ...]:
    """The severity scale, lowest first, from seed `severities`."""
    return tuple(read_severity_ranks(seeds_dir))


def _rank(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise _RowError(f"bad number {text!r} (use a whole number)") from None
    if value < 0:
        raise _RowError(f"{value} must be 0 or more")
    return value


def _check_hours(row: dict[str, Any]) -> None:
    if row["opens_at"] >= row["closes_at"]:
        raise _RowError(f"opens_at {row['opens_at']} is not before closes_at {row['closes_at']}")


SEED_SPECS: dict[str, SeedSpec] = {
    spec.name: spec
    for spec in (
        SeedSpec(
            "business_hours",
            (
                SeedColumn("weekday", required=True, parse=_weekday),
                SeedColumn("opens_at", required=True, parse=_clock),
                SeedColumn("closes_at", required=True, parse=_clock),
            ),
            check=_check_hours,
        ),
        SeedSpec(
            "holidays",
            (SeedColumn("holiday_date", "date", required=True, parse=_date), SeedColumn("holiday_name")),
            unique=("holiday_date",),
        ),
        SeedSpec(
            "incidents",
            (
                SeedColumn("incident_id", required=True),
                SeedColumn("title"),
                SeedColumn("started_at", "timestamp", required=True, parse=_utc_time),
                SeedColumn("lookback_hours", "integer", default=24, parse=_positive_int),
            ),
            unique=("incident_id",),
        ),
        SeedSpec(
            "approved_actors",
            (
                SeedColumn("actor_id", "bigint", required=True, parse=_int),
                SeedColumn("actor_name"),
                SeedColumn("note"),
                # Empty: approved in every account of the dataset.
                SeedColumn("subdomain", parse=lambda text: text.strip().lower()),
            ),
            unique=(("actor_id", "subdomain"),),
        ),
        SeedSpec(
            "detection_rules",
            (
                SeedColumn("rule_id", required=True),
                SeedColumn("title"),
                SeedColumn("severity", required=True, parse=lambda text: text.strip().lower()),
                SeedColumn("mitre_techniques"),
                SeedColumn("sigma_id"),
                SeedColumn("rule_file"),
            ),
            unique=("rule_id",),
        ),
        SeedSpec(
            SEVERITY_SEED,
            (SeedColumn("severity", required=True, parse=lambda text: text.strip().lower()),
             SeedColumn("severity_rank", "integer", required=True, parse=_rank)),
            unique=("severity", "severity_rank"),
        ),
        SeedSpec(
            "source_types_by_label",
            (SeedColumn("label_prefix", required=True, parse=lambda text: text.strip().lower()),
             SeedColumn("source_type", required=True, parse=str.strip)),
            unique=("label_prefix",),
        ),
    )
}


def read_seed(path: Path, display: str | None = None) -> Seed:
    """Validate one CSV against its spec (unknown seeds load as all-text tables).

    Raises:
        SeedError: `file:line: reason` for the first bad header or row.
    """
    where = display or str(path)
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="strict").replace("\r\n", "\n")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        raise SeedError(f"{where}:1: empty file: the first line names the columns") from None
    spec = SEED_SPECS.get(path.stem) or SeedSpec(path.stem, tuple(SeedColumn(name) for name in header))
    known = {column.name for column in spec.columns}
    for name in header:
        if name not in known:
            raise SeedError(f"{where}:1: unknown column {name!r} (expected {', '.join(c.name for c in spec.columns)})")
    for column in spec.columns:
        if column.required and column.name not in header:
            raise SeedError(f"{where}:1: missing column {column.name!r}")
    seed = Seed(spec.name, path, [(column.name, column.sql_type) for column in spec.columns])
    seen: dict[Any, dict[Any, int]] = {key: {} for key in spec.unique}
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise SeedError(f"{where}:{start}: {len(cells)} values for {len(header)} columns")
        given = dict(zip(header, cells))
        row: dict[str, Any] = {}
        try:
            for column in spec.columns:
                cell = given.get(column.name, "").strip()
                if not cell:
                    if column.required:
                        raise _RowError(f"{column.name} is empty")
                    row[column.name] = column.default
                else:
                    row[column.name] = column.parse(cell) if column.parse else cell
            if spec.check:
                spec.check(row)
            for key in spec.unique:
                names = (key,) if isinstance(key, str) else key
                value = tuple(row[name] for name in names)
                if value in seen[key]:
                    scope = "".join(f" in {other}" for other in value[1:] if other is not None)
                    raise _RowError(f"{names[0]} {value[0]}{scope} repeats line {seen[key][value]}")
                seen[key][value] = start
        except _RowError as exc:
            raise SeedError(f"{where}:{start}: {exc}") from None
        seed.rows.append(tuple(row[column.name] for column in spec.columns))
    seed.checksum = seed_checksum(seed.columns, seed.rows)
    return seed


def seed_checksum(columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> str:
    """What a seed's fingerprint is made of: its columns and typed rows."""
    return hashlib.sha256(repr((columns, rows)).encode("utf-8")).hexdigest()


def read_seeds(seeds_dir: Path, root: Path | None = None) -> list[Seed]:
    """Every `*.csv` in the folder, validated, in name order."""
    seeds = []
    for path in sorted(Path(seeds_dir).glob("*.csv")):
        display = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
        if path.stem in RETIRED_SEEDS:
            raise SeedError(f"{display}: {RETIRED_SEEDS[path.stem]}")
        seeds.append(read_seed(path, display))
    return seeds


def init_seeds(target: str | Path, source: Path, *, force: bool = False) -> list[Path]:
    """Copy every seed CSV of `source` into `target` (created if missing), for the user to edit.

    An installed package keeps its seeds inside site-packages, where edits are lost on upgrade;
    the copies live where the user keeps their configuration, and `models.seeds_dir` points at them.
    Nothing is written when any copy would overwrite a file, unless `force`.

    Raises:
        ConfigurationError: `target` is a file, or a seed file exists there and `force` is not set.

    Example:
        >>> init_seeds("zendesk-seeds", SQL_DIR / "seeds")
        [PosixPath('zendesk-seeds/approved_actors.csv'), ...]
    """
    folder = Path(target)
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"{folder} is a file: give a folder for the seed copies")
    sources = sorted(path for path in source.glob("*.csv") if path.stem not in GENERATED_SEEDS)
    if not sources:
        raise ConfigurationError(f"no seed CSV files in {source}: the package is incomplete, reinstall it")
    copies = [(path, folder / path.name) for path in sources]
    existing = [copy for _, copy in copies if copy.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ConfigurationError(
            f"{existing[0]} exists{more}: edit it in place, or pass --force to overwrite with the shipped seeds"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, copy in copies:
            copy.write_bytes(path.read_bytes())
    except OSError as exc:
        raise ConfigurationError(f"cannot write the seed copies to {folder}: {exc.strerror or exc}") from None
    return [copy for _, copy in copies]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00:00")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def seed_csv_text(seed: Seed) -> str:
    """The seed as the CSV dbt loads: a header, then one spelling per value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([name for name, _ in seed.columns])
    for row in seed.rows:
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def write_checked_seeds(seeds: list[Seed], folder: Path) -> None:
    """Write each validated seed as the CSV dbt loads: one spelling per value, every column present.

    Seeds no longer in `seeds` are removed from the folder, so dbt never loads a stale copy.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = {f"{seed.name}.csv" for seed in seeds}
    for stale in folder.glob("*.csv"):
        if stale.name not in names:
            stale.unlink()
    for seed in seeds:
        target = folder / f"{seed.name}.csv"
        text = seed_csv_text(seed)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


SEVERITY_RANKS: dict[str, int] = read_severity_ranks()
SEVERITIES: tuple[str, ...] = tuple(SEVERITY_RANKS)
