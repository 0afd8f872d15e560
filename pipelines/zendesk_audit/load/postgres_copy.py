"""PostgreSQL's bulk path: Arrow tables written as CSV by dlt and loaded with COPY, NULL kept apart from "".

By default dlt loads Arrow tables into PostgreSQL as INSERT statements (it warns that it converts
them), several times slower than DuckDB's Parquet path. Its `csv` file format loads with COPY, but
dlt's COPY job adds `FORCE_NULL` for every nullable column, which reads a quoted empty string as
NULL: Zendesk's many `change_description = ""` would come back NULL, unlike on DuckDB and unlike
the insert path. Arrow's CSV writer quotes every string and writes NULL as an empty, unquoted
field, so a COPY with `NULL ''` and no `FORCE_NULL` reads back exactly what was written.

`bulk_postgres` is dlt's postgres destination with that one job replaced. Its destination type
stays `dlt.destinations.postgres`: the state, the state key and `dlt pipeline` commands see plain
postgres. Parquet through ADBC would also be exact, but needs the `adbc-driver-postgresql` driver.

PostgreSQL text cannot hold NUL (U+0000). dlt's insert path strips it; this path strips it too, from
the byte stream (in UTF-8 the byte 0x00 is NUL and nothing else), so a row loads the same either way.
"""
from __future__ import annotations

import functools
from typing import IO, TYPE_CHECKING

from dlt.common.destination.reference import Destination
from dlt.destinations import postgres

if TYPE_CHECKING:
    from dlt.common.destination.client import LoadJob
    from dlt.common.destination.typing import PreparedTableSchema
    from dlt.destinations.impl.postgres.postgres import PostgresClient

POSTGRES_TYPE = "dlt.destinations.postgres"
# Bytes per read handed to COPY: fewer round trips than dlt's 8 KiB.
COPY_BUFFER_BYTES = 1024 * 1024


class bulk_postgres(postgres):  # noqa: N801 - dlt names destination factories in lower case
    """dlt's postgres destination whose `csv` load jobs keep "" and NULL apart (see the module)."""

    @property
    def destination_type(self) -> str:
        return POSTGRES_TYPE

    @property
    def client_class(self) -> type[PostgresClient]:
        return _client_class()


def with_bulk_path(destination: Destination) -> Destination:
    """`destination` itself, or for PostgreSQL the same destination (name, credentials, options) as `bulk_postgres`."""
    if destination.destination_type != POSTGRES_TYPE or isinstance(destination, bulk_postgres):
        return destination
    return bulk_postgres(**destination.config_params, **destination.caps_params)


def uses_bulk_path(destination: Destination | None) -> bool:
    return isinstance(destination, bulk_postgres)


class _WithoutNul:
    """A binary file whose reads leave out NUL bytes: what PostgreSQL text cannot store."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size).replace(b"\x00", b"")

    def readline(self, size: int = -1) -> bytes:
        return self._raw.readline(size).replace(b"\x00", b"")


@functools.cache
def _client_class() -> type[PostgresClient]:
    """Built on first use: dlt's postgres client imports psycopg2, which only the postgres extra installs."""
    from dlt.common.destination.configuration import CsvFormatConfiguration
    from dlt.common.storages.file_storage import FileStorage
    from dlt.common.storages.load_storage import ParsedLoadJobFileName
    from dlt.destinations.impl.postgres.postgres import PostgresClient, PostgresCsvCopyJob

    class ExactCsvCopyJob(PostgresCsvCopyJob):
        """COPY FROM STDIN (FORMAT CSV, NULL ''): an unquoted empty field is NULL, `""` is the empty string."""

        def run(self) -> None:
            client = self._job_client
            sql_client = client.sql_client
            csv_format = client.config.csv_format or CsvFormatConfiguration()
            table_name = self.load_table_name
            with FileStorage.open_zipsafe_ro(self._file_path, "rb") as raw:
                if csv_format.include_header:
                    header = raw.readline().decode(csv_format.encoding).strip()
                    names = [name.strip('"') for name in header.split(csv_format.delimiter)]
                else:
                    names = list(client.schema.get_table_columns(table_name))
                columns = ",".join(sql_client.escape_column_name(name, quote=True) for name in names)
                copy_sql = (
                    f"COPY {sql_client.make_qualified_table_name(table_name)} ({columns}) FROM STDIN WITH "
                    f"(FORMAT CSV, DELIMITER '{csv_format.delimiter}', NULL '', ENCODING '{csv_format.encoding}')"
                )
                source = _WithoutNul(raw) if csv_format.encoding.lower().replace("-", "") == "utf8" else raw
                with sql_client.begin_transaction(), sql_client.native_connection.cursor() as cursor:
                    cursor.copy_expert(copy_sql, source, size=COPY_BUFFER_BYTES)

    class BulkPostgresClient(PostgresClient):
        def create_load_job(
            self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
        ) -> LoadJob:
            if ParsedLoadJobFileName.parse(file_path).file_format == "csv":
                return ExactCsvCopyJob(file_path)
            return super().create_load_job(table, file_path, load_id, restore)

    return BulkPostgresClient
