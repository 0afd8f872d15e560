"""Where the models run: a dlt destination's SQL client (DuckDB, PostgreSQL, warehouses) or Spark.

Each engine knows how to run SQL, whether DDL is transactional, how to replace a view without
a moment where it is missing, and how to load a seed and keep the ledger. The models are written
in PostgreSQL's dialect; DuckDB and PostgreSQL run them unchanged, every other engine gets them
transpiled by sqlglot when the build runs.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from zendesk_audit.models_project import SOURCE_DIALECT, quote_identifier, sql_literal
from zendesk_audit.models_seeds import Seed

LEDGER_TABLE = "model_ledger"
LEDGER_COLUMNS = (("model", "text"), ("version", "integer"), ("checksum", "text"), ("built_at", "timestamp"), ("kind", "text"))

# dlt destination name -> sqlglot dialect
DESTINATION_DIALECTS = {
    "duckdb": "duckdb",
    "motherduck": "duckdb",
    "postgres": "postgres",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "mssql": "tsql",
    "synapse": "tsql",
    "athena": "athena",
    "clickhouse": "clickhouse",
    "dremio": "dremio",
    "sqlalchemy": "postgres",
}
# These run the source dialect as written: no transpilation, so what the tests prove is what runs.
NATIVE_DIALECTS = frozenset({"duckdb", "postgres"})


def transpile(sql: str, dialect: str) -> str:
    """The model SQL in `dialect`; unchanged for DuckDB and PostgreSQL.

    Raises:
        sqlglot.errors.SqlglotError: the SQL uses something `dialect` cannot express.
    """
    if dialect in NATIVE_DIALECTS:
        return sql
    statements = []
    for tree in sqlglot.parse(sql, read=SOURCE_DIALECT):
        if tree is None:
            continue
        if dialect in SPARK_DIALECTS:
            tree = tree.transform(_spark_rewrites)
        statements.append(tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE, pretty=True))
    return ";\n".join(statements)


# Spark SQL (and Databricks) know neither `extract(isodow ...)` nor `extract(epoch ...)`, and
# sqlglot passes both through unchanged.
SPARK_DIALECTS = frozenset({"spark", "spark2", "databricks"})


def _spark_rewrites(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Extract):
        unit = node.this.name.upper() if isinstance(node.this, (exp.Var, exp.Identifier, exp.Column)) else ""
        if unit == "ISODOW":
            return exp.Extract(this=exp.var("DAYOFWEEK_ISO"), expression=node.expression)
        if unit == "EPOCH":
            return exp.Anonymous(this="unix_seconds", expressions=[node.expression])
    return node


def value_literal(value: Any, sql_type: str) -> str:
    """A seed or ledger value as a literal that DuckDB and PostgreSQL read the same way."""
    if value is None:
        return f"cast(null as {sql_type_name(sql_type)})"
    if isinstance(value, datetime):
        return f"cast({sql_literal(value.isoformat(sep=' '))} as timestamp with time zone)"
    if isinstance(value, date):
        return f"cast({sql_literal(value.isoformat())} as date)"
    return sql_literal(value)


def sql_type_name(sql_type: str) -> str:
    return {"text": "varchar", "timestamp": "timestamp with time zone"}.get(sql_type, sql_type)


class Engine:
    """Base: SQL through `execute`/`query`; subclasses add transactions and quirks."""

    name = "sql"
    dialect = SOURCE_DIALECT
    transactional = False

    # -------------------------------------------------------------- primitives
    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def translate(self, sql: str) -> str:
        return transpile(sql, self.dialect)

    def relation(self, schema: str, name: str) -> str:
        return f"{quote_identifier(schema)}.{quote_identifier(name)}"

    # -------------------------------------------------------------- catalog
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

    def create_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {quote_identifier(schema)}")

    # -------------------------------------------------------------- views
    def replace_view(self, schema: str, name: str, body: str) -> bool:
        """Create or replace the view in place; True when dependent views had to be dropped."""
        self.execute(f"create or replace view {self.relation(schema, name)} as\n{self.translate(body)}")
        return False

    # -------------------------------------------------------------- seeds
    def load_seed(self, schema: str, seed: Seed, exists: bool) -> bool:
        """Replace the seed table's rows; recreate it when its columns changed. True if views were dropped."""
        table = self.relation(schema, seed.name)
        dropped = False
        if exists and self.columns(schema, seed.name) != [name for name, _ in seed.columns]:
            self.execute(f"drop table {table} {self.cascade}")
            exists, dropped = False, True
        if exists:
            self.execute(f"delete from {table}")
        else:
            columns = ", ".join(f"{quote_identifier(name)} {sql_type_name(kind)}" for name, kind in seed.columns)
            self.execute(f"create table {table} ({columns})")
        self.insert_rows(table, seed.columns, seed.rows)
        return dropped

    cascade = "cascade"

    def insert_rows(self, table: str, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> None:
        for start in range(0, len(rows), 200):
            values = ",\n".join(
                "(" + ", ".join(value_literal(value, kind) for value, (_, kind) in zip(row, columns)) + ")"
                for row in rows[start : start + 200]
            )
            self.execute(f"insert into {table} values\n{values}")

    # -------------------------------------------------------------- ledger
    def ensure_ledger(self, schema: str) -> None:
        columns = ", ".join(f"{name} {sql_type_name(kind)}" for name, kind in LEDGER_COLUMNS)
        self.execute(f"create table if not exists {self.relation(schema, LEDGER_TABLE)} ({columns})")

    def read_ledger(self, schema: str) -> dict[tuple[str, str], tuple[int, str, Any]]:
        """(kind, name) -> (version, checksum, built_at)."""
        rows = self.query(f"select kind, model, version, checksum, built_at from {self.relation(schema, LEDGER_TABLE)}")
        return {
            (str(kind), str(model)): (int(version), str(checksum), built_at)
            for kind, model, version, checksum, built_at in rows
        }

    def write_ledger(self, schema: str, entries: list[tuple[str, str, int, str, datetime]]) -> None:
        """Upsert (kind, name, version, checksum, built_at) rows."""
        table = self.relation(schema, LEDGER_TABLE)
        for kind, name, version, checksum, built_at in entries:
            self.execute(f"delete from {table} where model = {sql_literal(name)} and kind = {sql_literal(kind)}")
            self.execute(
                f"insert into {table} (model, version, checksum, built_at, kind) values ("
                f"{sql_literal(name)}, {version}, {sql_literal(checksum)}, "
                f"{value_literal(built_at, 'timestamp')}, {sql_literal(kind)})"
            )


class DltSqlEngine(Engine):
    """A dlt destination's SQL client (open: inside `with pipeline.sql_client() as client`)."""

    def __init__(self, client: Any, destination_name: str) -> None:
        self.client = client
        self.name = destination_name
        self.dialect = DESTINATION_DIALECTS.get(destination_name, destination_name)
        # DDL is transactional here: a failed build leaves every view as it was.
        self.transactional = self.dialect in NATIVE_DIALECTS

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

    def replace_view(self, schema: str, name: str, body: str) -> bool:
        if self.dialect != "postgres":
            return super().replace_view(schema, name, body)
        # PostgreSQL replaces a view in place only when the old columns stay, in order, with their
        # types. Otherwise drop and create inside the same transaction: readers wait on the lock
        # and then see the new view, never a missing one.
        import psycopg2

        relation = self.relation(schema, name)
        cursor = self.client.native_connection.cursor()
        cursor.execute("savepoint zendesk_audit_replace_view")
        try:
            cursor.execute(f"create or replace view {relation} as\n{body}")
        except psycopg2.errors.InvalidTableDefinition:
            cursor.execute("rollback to savepoint zendesk_audit_replace_view")
            cursor.execute(f"drop view if exists {relation} cascade")
            cursor.execute(f"create view {relation} as\n{body}")
            return True
        except psycopg2.Error:
            cursor.execute("rollback to savepoint zendesk_audit_replace_view")
            raise
        finally:
            cursor.close()
        return False

    def columns(self, schema: str, name: str) -> list[str]:
        return super().columns(schema, name)


def open_engine(pipeline: Any) -> contextlib.AbstractContextManager[DltSqlEngine]:
    """`with open_engine(pipeline) as engine:` on the pipeline's destination.

    A DuckDB file that another process holds is one line (`locking.DatabaseBusy`), not dlt's
    "check your credentials"; the CLI waits for it first (`cli_options.open_database`).

    Raises:
        ZendeskAuditError: the destination cannot be opened (one line naming what to fix).
    """
    from zendesk_audit.destination_errors import open_sql_client

    @contextlib.contextmanager
    def opened() -> Iterator[DltSqlEngine]:
        with open_sql_client(pipeline) as client:
            yield DltSqlEngine(client, pipeline.destination.destination_name)

    return opened()


def first_error_line(exc: BaseException, limit: int = 240) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


def optional(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value
