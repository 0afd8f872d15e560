"""A review period (and optional subdomain) as the alerts, the report and the evidence export take it.

One parser and one SQL filter so that `--from`, `--to` and `--subdomain` mean the same thing in
every command: `--from` is inclusive, `--to` exclusive, both UTC (a time without an offset is
UTC, a bare date is midnight UTC). Models are filtered on their first time column among
`TIME_COLUMNS`; a local date column (`activity_date`) is compared with the bounds' dates.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import TYPE_CHECKING, Any

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.models.warehouse import quote_identifier, sql_literal
from zendesk_audit.times import parse_utc

if TYPE_CHECKING:
    from zendesk_audit.models.warehouse import DltSqlEngine

# Preferred first: the record's time, then the time of a role change, then a local activity date.
TIME_COLUMNS = ("created_at", "changed_at", "activity_date")
DATE_COLUMNS = frozenset({"activity_date"})


def parse_instant(text: str, option: str) -> datetime:
    """An ISO 8601 date or time as an aware UTC datetime.

    Raises:
        ConfigurationError: not ISO 8601 (one line naming the option).
    """
    try:
        return parse_utc(text)
    except ValueError:
        raise ConfigurationError(
            f"{option} {text!r} is not an ISO 8601 date or time (e.g. 2026-01-31 or 2026-01-31T08:00:00Z)"
        ) from None


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Period:
    """`[start, end)` in UTC (either end open) and an optional subdomain."""

    start: datetime | None = None
    end: datetime | None = None
    subdomain: str | None = None

    @classmethod
    def parse(cls, from_: str | None, to: str | None, subdomain: str | None = None) -> Period:
        """Parse `--from`, `--to`, `--subdomain`.

        Raises:
            ConfigurationError: a bound is not ISO 8601, or `--from` is not before `--to`.
        """
        start = parse_instant(from_, "--from") if from_ else None
        end = parse_instant(to, "--to") if to else None
        if start and end and start >= end:
            raise ConfigurationError(f"--from {iso(start)} is not before --to {iso(end)}")
        return cls(start, end, (subdomain or "").strip() or None)

    def label(self) -> str:
        """`2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z` (with `start`/`now` for open ends)."""
        start = iso(self.start) if self.start else "the first record"
        end = iso(self.end) if self.end else "the last record"
        return f"{start} to {end}" + (f", subdomain {self.subdomain}" if self.subdomain else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": iso(self.start) if self.start else None,
            "to": iso(self.end) if self.end else None,
            "subdomain": self.subdomain,
        }

    def time_column(self, columns: Sequence[str]) -> str | None:
        """The column a relation with `columns` is filtered on, if any."""
        return next((name for name in TIME_COLUMNS if name in columns), None)

    def conditions(self, columns: Sequence[str], qualifier: str = "", time_column: str | None = None) -> list[str]:
        """SQL conditions (DuckDB and PostgreSQL) restricting a relation with `columns` to the period.

        `time_column` overrides the choice among `TIME_COLUMNS` (e.g. an incident's start).
        """
        prefix = f"{qualifier}." if qualifier else ""
        found: list[str] = []
        column = time_column or self.time_column(columns)
        if column in DATE_COLUMNS:
            ref = prefix + quote_identifier(column)
            if self.start:
                found.append(f"{ref} >= cast({sql_literal(self.start.date().isoformat())} as date)")
            if self.end:
                last = self.end.date() if self.end.time() != time(0) else None
                op, bound = ("<=", last) if last else ("<", self.end.date())
                found.append(f"{ref} {op} cast({sql_literal(bound.isoformat())} as date)")
        elif column:
            ref = prefix + quote_identifier(column)
            if self.start:
                found.append(f"{ref} >= {timestamp_literal(self.start)}")
            if self.end:
                found.append(f"{ref} < {timestamp_literal(self.end)}")
        if self.subdomain and "subdomain" in columns:
            found.append(f"{prefix}{quote_identifier('subdomain')} = {sql_literal(self.subdomain)}")
        return found

    def where(self, columns: Sequence[str], qualifier: str = "", time_column: str | None = None) -> str:
        """` where ...` for `conditions`, or an empty string."""
        found = self.conditions(columns, qualifier, time_column)
        return (" where " + " and ".join(found)) if found else ""


def timestamp_literal(value: datetime) -> str:
    text = value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00:00"
    return f"cast({sql_literal(text)} as timestamp with time zone)"


def fetch(engine: DltSqlEngine, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a query on an open `warehouse` engine (a dlt SQL client)."""
    with engine.client.execute_query(sql) as cursor:
        columns = [str(item[0]) for item in (cursor.description or [])]
        rows = [tuple(row) for row in cursor.fetchall()]
    return columns, rows


def require_views(engine: DltSqlEngine, dataset: str, names: Sequence[str]) -> None:
    """Fail in one line when the models are not built (the commands read the views, not raw rows).

    Raises:
        ConfigurationError: a view is missing: build the models first.
    """
    from zendesk_audit.models.build import models_schema_name

    schema = models_schema_name(dataset)
    present = engine.relations(schema)
    missing = [name for name in names if name not in present]
    if missing:
        raise ConfigurationError(
            f"no view {schema}.{missing[0]} on {engine.name}: run `zendesk-audit models build` "
            "(or `zendesk-audit load`) first, or pass the --dataset it built"
        )
