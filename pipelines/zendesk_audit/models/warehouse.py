"""SQL on the pipeline's destination, for what reads the models: alerts, report, evidence, status.

`open_engine(pipeline)` wraps dlt's SQL client for the destination (DuckDB, PostgreSQL, a
warehouse) with the few catalog questions the readers ask (`relations`, `columns`) and portable
literals. Building the models is dbt's job (`zendesk_audit.models.build`); nothing here writes a model.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dlt
    from dlt.destinations.sql_client import SqlClientBase

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote_identifier(name: str) -> str:
    """Plain lower-case names stay bare (portable); anything else is double-quoted."""
    return name if _IDENTIFIER.match(name) else '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A value as a portable SQL literal (strings single-quoted, quotes doubled)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_type_name(sql_type: str) -> str:
    return {"text": "varchar", "timestamp": "timestamp with time zone"}.get(sql_type, sql_type)


def value_literal(value: Any, sql_type: str) -> str:
    """A value as a literal that DuckDB and PostgreSQL read the same way."""
    if value is None:
        return f"cast(null as {sql_type_name(sql_type)})"
    if isinstance(value, datetime):
        return f"cast({sql_literal(value.isoformat(sep=' '))} as timestamp with time zone)"
    if isinstance(value, date):
        return f"cast({sql_literal(value.isoformat())} as date)"
    return sql_literal(value)


# DDL is transactional on these: a failed write leaves every table as it was.
TRANSACTIONAL_DESTINATIONS = frozenset({"duckdb", "ducklake", "postgres"})
# Engines without PRIMARY KEY or UNIQUE constraints.
NO_CONSTRAINTS = frozenset({"ducklake"})
# A DuckLake is queried through DuckDB: the same SQL dialect.
DIALECTS = {"ducklake": "duckdb"}


class DltSqlEngine:
    """A dlt destination's SQL client (open: inside `with open_sql_client(pipeline) as client`)."""

    def __init__(self, client: SqlClientBase[Any], destination_name: str) -> None:
        self.client = client
        self.name = destination_name
        self.dialect = DIALECTS.get(destination_name, destination_name)
        self.transactional = destination_name in TRANSACTIONAL_DESTINATIONS

    def execute(self, sql: str) -> None:
        self.client.execute_sql(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in (self.client.execute_sql(sql) or [])]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if not self.transactional:
            yield
            return
        with self.client.begin_transaction():
            yield

    def relation(self, schema: str, name: str) -> str:
        return f"{quote_identifier(schema)}.{quote_identifier(name)}"

    def relations(self, schema: str) -> dict[str, str]:
        """name -> 'view' or 'table' for everything in `schema`."""
        rows = self.query(
            "select table_name, table_type from information_schema.tables "
            f"where table_schema = {sql_literal(schema)}"
        )
        return {str(name): ("view" if "VIEW" in str(kind).upper() else "table") for name, kind in rows}

    def columns(self, schema: str, name: str) -> list[str]:
        rows = self.query(
            "select column_name from information_schema.columns "
            f"where table_schema = {sql_literal(schema)} and table_name = {sql_literal(name)} order by ordinal_position"
        )
        return [str(row[0]) for row in rows]

    def primary_key(self, *columns: str) -> str:
        """`, primary key (...)` for a `create table`, or nothing where the engine has no constraints
        (DuckLake: the readers' own `not exists` checks keep the rows unique there)."""
        if self.name in NO_CONSTRAINTS:
            return ""
        return f", primary key ({', '.join(columns)})"

    def create_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {quote_identifier(schema)}")

    def insert_rows(self, table: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        for start in range(0, len(rows), 200):
            values = ",\n".join(
                "(" + ", ".join(value_literal(value, kind) for value, (_, kind) in zip(row, columns)) + ")"
                for row in rows[start : start + 200]
            )
            self.execute(f"insert into {table} values\n{values}")


def open_engine(pipeline: dlt.Pipeline) -> contextlib.AbstractContextManager[DltSqlEngine]:
    """`with open_engine(pipeline) as engine:` on the pipeline's destination.

    A DuckDB file that another process holds is one line (`locking.DatabaseBusy`), not dlt's
    "check your credentials"; the commands wait for it first (`pipeline.open_database`).

    Raises:
        ZendeskAuditError: the destination cannot be opened (one line naming what to fix).
    """
    from zendesk_audit.load.destination_errors import open_sql_client

    @contextlib.contextmanager
    def opened() -> Iterator[DltSqlEngine]:
        with open_sql_client(pipeline) as client:
            yield DltSqlEngine(client, pipeline.destination.destination_name)

    return opened()


def first_error_line(exc: BaseException | str, limit: int = 240) -> str:
    """The first line of a database's or dbt's error, with no password and nothing a terminal would run.

    Errors quote data and SQL (a record's value in a failed cast): `terminal_text` keeps control
    sequences out, `redact` connection strings' passwords (as `errors.first_line` does).
    """
    from zendesk_audit.load.destination_errors import redact
    from zendesk_audit.text_safety import terminal_text

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return terminal_text(redact((lines[0] if lines else type(exc).__name__)[:limit]))
