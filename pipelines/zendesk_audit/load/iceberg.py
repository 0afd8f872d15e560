"""`--destination iceberg`: dlt's filesystem destination writing Iceberg tables, registered in a SQL catalog.

The data lands as Parquet files with Iceberg metadata in a folder or a bucket (config
`destination.iceberg.bucket_url`, default `./zendesk_lake`), and every table is registered in an
Iceberg catalog through pyiceberg: dlt's `[iceberg_catalog]` settings when given (a PostgreSQL
catalog that several writers and readers share, or any catalog pyiceberg's own `.pyiceberg.yaml`
names), else a SQLite file beside the data (`<lake>/iceberg_catalog.sqlite`). Spark, Trino,
Snowflake or DuckDB read the tables through that catalog.

Why a destination name of its own and not `--destination filesystem` plus an option: the name
says where every command goes. `load` writes Iceberg tables (the merge on `(subdomain, id)` is
one delete and one append per table and load, `IcebergMergeJob`), and the commands that need SQL
(`models`, `report`, `alerts`, `evidence`) work on a DuckDB file beside the lake (`--duckdb-path`):
its schema `<dataset>` holds one view per Iceberg table (`iceberg_scan` of the table's current
metadata file), and `<dataset>_models` the marts. `--destination filesystem` keeps meaning loose
Parquet files without SQL.

DuckDB's iceberg extension (and avro, which it loads when it starts) come from their Python
packages (`duckdb_extensions`), never downloaded. Unlike the DuckLake's, which are loaded by path
into our own connections, they are installed, i.e. copied from the package into DuckDB's extension
folder (`install_extensions`): the views must open in every DuckDB of this version that reads the
file (dbt's, dlt's, the `duckdb` shell, a BI tool's driver), and DuckDB autoloads an installed
extension there, without asking the network.

The views name a snapshot: each load (and `models build`) moves them to the catalog's current one,
so the marts and what `report` or `evidence` read always come from the same snapshot of the lake.
"""
from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.schema.utils import get_columns_names_with_prop
from dlt.destinations import filesystem
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient, IcebergLoadFilesystemJob

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.load.duckdb_extensions import extension_path

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt.common.destination.reference import Destination
    from dlt.sources import DltSource
    from pyiceberg.catalog import Catalog

ICEBERG = "iceberg"
DEFAULT_LAKE = "zendesk_lake"
CATALOG_FILE = "iceberg_catalog.sqlite"
# dlt accepts only upsert or insert-only for a merge into Iceberg; `IcebergMergeJob` does the merge
# (the rows of a key replaced by the newest load's, as delete-insert does elsewhere).
ICEBERG_MERGE = {"disposition": "merge", "strategy": "upsert"}
_CATALOG_LOCK = threading.RLock()
# iceberg reads the manifests with avro, which it loads itself when it starts: avro first.
DUCKDB_EXTENSIONS = ("avro", "iceberg")
FILESYSTEM_TYPE = "dlt.destinations.filesystem"
# New records match no row: pyiceberg warns so on every load's delete (`IcebergMergeJob`). A filter
# for this module's calls only (dlt's load jobs run in threads, where `catch_warnings` is unsafe).
warnings.filterwarnings("ignore", message="Delete operation did not match any records", module=__name__)


def one_row_per_key(data: pa.Table, keys: list[str], order_by: str = "created_at") -> pa.Table:
    """The last row of each key, by `order_by` (when the table has it) then position: a load
    package may hold a record twice (read in two windows of one chunk), the merge keeps the latest."""
    import pyarrow as pa

    if data.num_rows < 2:
        return data
    ordered = data.append_column("__position", pa.array(range(data.num_rows), pa.int64()))
    if order_by in data.column_names:
        ordered = ordered.sort_by([(order_by, "ascending"), ("__position", "ascending")])
    ordered = ordered.append_column("__order", pa.array(range(ordered.num_rows), pa.int64()))
    last = ordered.group_by(keys, use_threads=False).aggregate([("__order", "max")]).column("__order_max")
    if len(last) == data.num_rows:
        return data
    return ordered.take(last.sort()).drop_columns(["__position", "__order"])


def key_filter(data: pa.Table, keys: list[str]) -> Any:
    """A pyiceberg filter matching the rows whose keys `data` holds: `In` on the key column with
    the most values (`id`), within each value of the others (`subdomain`: one per account).

    The groups are joined as a balanced tree of `Or`: pyiceberg visits expressions recursively, and
    a chain of thousands would exceed Python's recursion limit.
    """
    from pyiceberg.expressions import And, EqualTo, In, Or

    *outer, inner = sorted(keys, key=lambda name: (len(data.column(name).unique()), keys.index(name)))
    if not outer:
        return In(inner, set(data.column(inner).unique().to_pylist()))
    groups = data.select(keys).group_by(outer, use_threads=False).aggregate([(inner, "distinct")])
    filters = [
        And(*[EqualTo(name, row[name]) for name in outer], In(inner, set(row[f"{inner}_distinct"])))
        for row in groups.to_pylist()
    ]

    def joined(items: list[Any]) -> Any:
        if len(items) == 1:
            return items[0]
        middle = len(items) // 2
        return Or(joined(items[:middle]), joined(items[middle:]))

    return joined(filters)


class IcebergMergeJob(IcebergLoadFilesystemJob):
    """dlt's Iceberg load job, whose merge is one delete of the package's keys and one append, in
    one transaction. dlt's own (pyiceberg's upsert) scans the table and commits for every 1,000
    rows: 342 s for 20,000 records here, where this takes seconds (docs/destinations.md)."""

    def run(self) -> None:
        from dlt.common.libs.pyiceberg import ensure_iceberg_compatible_arrow_data

        keys = get_columns_names_with_prop(self._load_table, "primary_key")
        if self._load_table["write_disposition"] != "merge" or not keys or "parent" in self._load_table:
            super().run()
            return
        try:
            table = self._job_client.load_open_table("iceberg", self.load_table_name, schema=self.arrow_dataset.schema)
        except DestinationUndefinedEntity:
            super().run()  # creates the table, then runs this again
            return
        data = ensure_iceberg_compatible_arrow_data(one_row_per_key(self.arrow_dataset.to_table(), keys))
        if data.num_rows == 0:
            return
        with table.transaction() as transaction:
            transaction.delete(delete_filter=key_filter(data, keys), case_sensitive=True)
            transaction.append(data)


class IcebergFilesystemClient(FilesystemClient):
    """dlt's filesystem client with the catalog of `open_catalog` (dlt's own fallback, a SQLite
    catalog in memory, forgets every table between two loads) and the merge of `IcebergMergeJob`."""

    @staticmethod
    def get_reference_followup_job_class(table: Any) -> Any:
        if table.get("table_format") == ICEBERG:
            return IcebergMergeJob
        return FilesystemClient.get_reference_followup_job_class(table)

    def get_open_table_catalog(self, table_format: Any, catalog_name: str | None = None) -> Any:
        # dlt's load jobs run in threads, each with its client: the first ones would all create the
        # namespace at once, and all but one fail on the catalog's unique key (then retry).
        with _CATALOG_LOCK:
            if table_format == ICEBERG and not self._catalog:
                self._catalog = open_catalog(self.config)
            return super().get_open_table_catalog(table_format, catalog_name)


class iceberg_filesystem(filesystem):  # noqa: N801 - dlt's destination factories are lower-case
    """The filesystem destination whose Iceberg tables go to `open_catalog`'s catalog. Its type
    stays dlt's (`dlt.destinations.filesystem`), for dlt's state and `dlt pipeline` commands."""

    @property
    def destination_type(self) -> str:
        return FILESYSTEM_TYPE

    @property
    def client_class(self) -> type[FilesystemClient]:  # type: ignore[override]
        return IcebergFilesystemClient


def iceberg_destination() -> Destination:
    """The `iceberg` destination: dlt's filesystem destination named `iceberg` (its settings under
    `[destination.iceberg]`), at `./zendesk_lake` unless `bucket_url` is configured.

    Raises:
        ConfigurationError: pyiceberg is not installed.
    """
    import importlib.util

    import dlt

    if importlib.util.find_spec("pyiceberg") is None:
        raise ConfigurationError("destination 'iceberg' needs pyiceberg, which is not installed: "
                                 "pip install 'zendesk-audit[iceberg]'")
    configured = dlt.config.get("destination.iceberg.bucket_url", str)
    if configured:
        return iceberg_filesystem(destination_name=ICEBERG)
    return iceberg_filesystem(bucket_url=Path(DEFAULT_LAKE).absolute().as_uri(), destination_name=ICEBERG)


def is_iceberg(destination: Any) -> bool:
    """True for the `iceberg` destination (by name: the name is what the user chose)."""
    return getattr(destination, "destination_name", destination) == ICEBERG


def local_folder(bucket_url: str) -> Path | None:
    """The local folder of a `file://` URL or a plain path; None for a bucket (s3://, gs://, ...)."""
    parsed = urlparse(bucket_url)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if not parsed.scheme or len(parsed.scheme) == 1:  # a path (with a Windows drive letter)
        return Path(bucket_url).absolute()
    return None


def open_catalog(config: Any) -> Catalog:
    """The Iceberg catalog of the lake: the one configured for dlt (`[iceberg_catalog]`, a
    `.pyiceberg.yaml`, `PYICEBERG_CATALOG__*`), else a SQLite catalog in the lake's folder.

    Args:
        config: the filesystem destination's resolved configuration (bucket_url, credentials).

    Raises:
        ConfigurationError: no catalog is configured and the lake is not a local folder.
    """
    from dlt.common.libs.pyiceberg import get_catalog, get_sql_catalog, is_ephemeral_catalog

    catalog = get_catalog(credentials=config.credentials)
    if not is_ephemeral_catalog(catalog):
        return catalog
    folder = local_folder(str(config.bucket_url))
    if folder is None:
        raise ConfigurationError(
            f"the Iceberg lake at {config.bucket_url} needs a catalog every writer and reader reaches: set "
            "[iceberg_catalog.iceberg_catalog_config] type = \"sql\", uri = \"postgresql+psycopg2://...\", "
            "warehouse = \"...\" (see docs/destinations.md)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    # pyiceberg creates its tables in a new SQLite file without `if not exists`: one opening at a time.
    with _CATALOG_LOCK:
        return get_sql_catalog("default", f"sqlite:///{folder / CATALOG_FILE}", config.credentials,
                               {"warehouse": folder.as_uri()})


def as_iceberg_source(source: DltSource) -> DltSource:
    """The source's merges as dlt merges into Iceberg (`ICEBERG_MERGE`); the table format itself
    is given to `pipeline.run` (`table_format="iceberg"`), which reaches table variants too."""
    for resource in source.resources.values():
        disposition = resource.write_disposition
        if disposition == "merge" or (isinstance(disposition, dict) and disposition.get("disposition") == "merge"):
            resource.apply_hints(write_disposition=dict(ICEBERG_MERGE))  # type: ignore[arg-type]
    return source


def table_locations(destination: Destination, dataset: str) -> dict[str, str]:
    """Each Iceberg table of `dataset` -> its current metadata file, as the catalog says now."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    from zendesk_audit.load.destination_config import partial_configuration

    catalog = open_catalog(partial_configuration(destination))  # no dataset: the catalog serves them all
    try:
        identifiers = catalog.list_tables(dataset)
    except NoSuchNamespaceError:
        return {}
    return {str(identifier[-1]): catalog.load_table(identifier).metadata_location for identifier in identifiers}


def expose_tables(connection: Any, dataset: str, locations: dict[str, str]) -> None:
    """One view per Iceberg table in schema `dataset` of a DuckDB connection (`iceberg_scan` of
    its metadata file), in one transaction; the extension comes from its package (`duckdb_extensions`)."""
    install_extensions()
    for extension in DUCKDB_EXTENSIONS:
        connection.execute(f"load {extension}")  # from DuckDB's extension folder, where it was just installed

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    connection.execute("begin")
    try:
        connection.execute(f"create schema if not exists {quoted(dataset)}")
        for name, location in sorted(locations.items()):
            literal = "'" + location.replace("'", "''") + "'"
            connection.execute(
                f"create or replace view {quoted(dataset)}.{quoted(name)} as select * from iceberg_scan({literal})"
            )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise


class LakeSqlClient:
    """The two calls of dlt's SQL client the CSV import makes (`load.csv_import`), on the lake.

    dlt's own SQL client of a filesystem pipeline shows only the tables of that pipeline's schema:
    the import's pipeline (`zendesk_audit_csv`) would not see the `audit_logs` the API load wrote.
    This one reads every table of the dataset from the catalog (`iceberg_scan` in a DuckDB in memory).
    """

    def __init__(self, connection: Any, dataset: str) -> None:
        self.connection = connection
        self.dataset = dataset

    def make_qualified_table_name(self, name: str) -> str:
        return '"' + self.dataset.replace('"', '""') + '"."' + name.replace('"', '""') + '"'

    def execute_sql(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import duckdb
        from dlt.destinations.exceptions import DatabaseUndefinedRelation

        try:
            return self.connection.execute(sql.replace("%s", "?"), list(args)).fetchall()
        except duckdb.CatalogException as exc:  # no such table in the lake yet
            raise DatabaseUndefinedRelation(exc) from exc


@contextlib.contextmanager
def lake_sql_client(destination: Destination, dataset: str) -> Iterator[LakeSqlClient]:
    """`with lake_sql_client(destination, dataset) as client:` (see `LakeSqlClient`)."""
    import duckdb

    connection = duckdb.connect()
    try:
        expose_tables(connection, dataset, table_locations(destination, dataset))
        yield LakeSqlClient(connection, dataset)
    finally:
        connection.close()


def install_extensions() -> None:
    """Install DuckDB's iceberg and avro extensions from their packages into DuckDB's extension
    folder (a local copy; one already there is left as it is), where every DuckDB of this version
    autoloads them (see the module).

    Raises:
        ConfigurationError: a package is missing or made for another DuckDB version.
    """
    import duckdb

    try:
        paths = [extension_path(name) for name in DUCKDB_EXTENSIONS]
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc}".split(":")[0] + ", which reads the Iceberg tables: "
                                 "pip install 'zendesk-audit[iceberg]'") from None
    connection = duckdb.connect()
    try:
        for path in paths:
            connection.execute("install '" + path.replace("'", "''") + "'")
    finally:
        connection.close()


def refresh_views(destination: Destination, dataset: str, duckdb_path: str, wait_for_lock: float = 0.0) -> dict[str, str]:
    """Point the views of the DuckDB file at the lake's current snapshot; the tables and their metadata files.

    Raises:
        ConfigurationError: the catalog cannot be opened (see `open_catalog`).
        DatabaseBusy: another process keeps the DuckDB file open after the wait (`locking.duckdb_session`).
    """
    import duckdb

    from zendesk_audit.load.locking import duckdb_session

    locations = table_locations(destination, dataset)
    database = os.path.abspath(duckdb_path)
    # Opened as dlt opens it, so a session this process already holds on the file is shared.
    with duckdb_session(database, read_only=False, wait_seconds=wait_for_lock):
        connection = duckdb.connect(database)
        try:
            expose_tables(connection, dataset, locations)
        finally:
            connection.close()
    return locations
