"""The dlt pipeline of a database: DuckDB file by default, Parquet load files, any destination by name;
its write lock, and opening it again for the commands that read it.

dlt state is kept per destination and dataset: dlt keys it by pipeline name only, so two loads
named `zendesk_audit` into two databases would otherwise share one cursor and the second database
would silently miss everything before it. Each database and dataset gets its own pipeline name
instead, in dlt's own pipelines folder (see `state_layout`), where dlt's CLI finds it.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dlt
from dlt.common.destination.exceptions import DestinationException
from dlt.common.destination.reference import Destination
from dlt.common.exceptions import MissingDependencyException
from dlt.common.pipeline import get_dlt_pipelines_dir

from zendesk_audit.errors import (
    ConfigurationError,
)
from zendesk_audit.extract.cursor import format_time, saved_cursor
from zendesk_audit.load.dlt_settings import own_pipeline
from zendesk_audit.load.ducklake import is_ducklake, with_offline_extensions
from zendesk_audit.load.iceberg import ICEBERG, iceberg_destination, install_extensions, refresh_views
from zendesk_audit.load.locking import destination_lock, duckdb_database, duckdb_session
from zendesk_audit.load.postgres_copy import uses_bulk_path, with_bulk_path
from zendesk_audit.load.state_layout import (
    adopt_destination_state,
    adopt_legacy_folders,
    destination_fingerprint,  # noqa: F401 - re-exported: part of this module's interface
    state_pipeline_name,
)
from zendesk_audit.settings import (
    DEFAULT_DATASET_NAME,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_PIPELINE_NAME,
    PARQUET_DESTINATIONS,
)

if TYPE_CHECKING:
    from zendesk_audit.load.ducklake import LakeSnapshot
    from zendesk_audit.load.progress import LoadProgress

def create_destination(name: str | None = None, duckdb_path: str = DEFAULT_DUCKDB_PATH, read_only: bool = False) -> Destination:
    """`duckdb` (a file, by default `./zendesk.duckdb`), `iceberg` (`load/iceberg.py`) or any dlt destination by name.

    `read_only` opens the DuckDB file for reading only: several readers at once, none while a load
    writes. PostgreSQL comes with the bulk path for Arrow tables (`postgres_copy`).

    Raises:
        ConfigurationError: an unknown destination, a missing driver, or a DuckDB path that is a folder
            or lies in a folder that does not exist.
    """
    if name == ICEBERG:
        return iceberg_destination()
    if not name or name == "duckdb":
        if os.path.isdir(duckdb_path):
            raise ConfigurationError(
                f"--duckdb-path {duckdb_path} is a folder, not a DuckDB file: pass a file, "
                f"e.g. {os.path.join(duckdb_path, 'zendesk.duckdb')}"
            )
        check_duckdb_folder(duckdb_path)
        if read_only:
            from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

            return dlt.destinations.duckdb(credentials=DuckDbCredentials(os.path.abspath(duckdb_path), read_only=True))
        return dlt.destinations.duckdb(credentials=os.path.abspath(duckdb_path))
    try:
        destination = with_offline_extensions(with_bulk_path(Destination.from_reference(name)))
    except MissingDependencyException:
        raise missing_extra(name) from None
    except DestinationException:
        raise ConfigurationError(
            f"unknown destination {name!r}: use duckdb, postgres, snowflake, bigquery, databricks, "
            "filesystem, iceberg, ducklake or another dlt destination name"
        ) from None
    check_driver(name)
    return destination


# The module each destination's extra installs, probed before anything runs: dlt itself only
# imports it at the sync step, and its message ("If you use pip you may do the following:"
# followed by a line break) arrives cut off in one line.
DESTINATION_DRIVERS = {
    "postgres": "psycopg2",
    "snowflake": "snowflake.connector",
    "bigquery": "google.cloud.bigquery",
    "databricks": "databricks.sql",
}


def missing_extra(name: str) -> ConfigurationError:
    """The one line for a destination whose driver is not installed: the exact install command (exit 2)."""
    return ConfigurationError(
        f"destination {name!r} needs its driver, which is not installed: pip install 'zendesk-audit[{name}]'"
    )


def check_driver(name: str) -> None:
    """Raises `missing_extra(name)` when the destination's driver cannot be imported."""
    import importlib

    if name == "ducklake":
        from zendesk_audit.load.duckdb_extensions import extension_path

        extension_path("ducklake")  # the extra `lake`: raises the line that says to install it
        return
    driver = DESTINATION_DRIVERS.get(name)
    if driver is None:
        return
    try:
        importlib.import_module(driver)
    except ImportError:
        raise missing_extra(name) from None


def check_duckdb_folder(duckdb_path: str) -> None:
    """Refuse a DuckDB path whose folder does not exist, instead of creating it.

    A typo in `--duckdb-path` (`/data/zendsk/z.duckdb`) would otherwise create the folders and a
    new, empty database, and a first load would start a backfill into it while the real one waits
    beside it. Creating a file in an existing folder stays allowed: that is how a first load starts.

    Raises:
        ConfigurationError: the folder does not exist (exit 2).
    """
    folder = os.path.dirname(os.path.abspath(duckdb_path))
    if not os.path.isdir(folder):
        raise ConfigurationError(
            f"--duckdb-path {duckdb_path}: the folder {folder} does not exist: check the path, or create the "
            f"folder first (mkdir -p {folder})"
        )


def create_pipeline(
    destination: str | Destination | None = None,
    dataset_name: str = DEFAULT_DATASET_NAME,
    duckdb_path: str = DEFAULT_DUCKDB_PATH,
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    pipelines_dir: str | None = None,
    progress: LoadProgress | None = None,
    read_only: bool = False,
    staging_key: str | None = None,
) -> dlt.Pipeline:
    """The dlt pipeline of `pipeline_name` for this database and dataset, with its state.

    Its dlt name is `<pipeline_name>_<destination>_<dataset>_<key>` (`state_layout`), so that each
    database keeps its own cursor. State of the older layout is adopted on the way: the local
    folders, or else the destination's saved state when this name has none locally.

    Args:
        destination: a name (`duckdb`, `postgres`, `filesystem`, ...) or a dlt Destination.
        dataset_name: the schema (or folder) that gets the tables.
        duckdb_path: the DuckDB file when the destination is DuckDB.
        pipeline_name: the account's base name: `zendesk_audit`, `zendesk_audit_<subdomain>` or
            `zendesk_audit_csv`.
        pipelines_dir: where local state lives; default: dlt's pipelines folder (`$DLT_DATA_DIR/pipelines`).
        read_only: open a DuckDB file read-only (`report`, `evidence`, `models status`).
        staging_key: on a DuckLake, names this load's own staging dataset (the account's subdomain;
            default: `pipeline_name`), see `own_staging`.

    Raises:
        ZendeskAuditError: the destination's saved state is needed and cannot be read.
    """
    destination = with_offline_extensions(with_bulk_path(destination)) if isinstance(destination, Destination) else (
        create_destination(destination, duckdb_path, read_only=read_only)
    )
    name = state_pipeline_name(pipeline_name, destination, dataset_name)
    if is_ducklake(destination):
        destination = own_staging(destination, staging_key or pipeline_name)
    # Arrow tables keep the lineage columns that dict rows get, for this pipeline only (`dlt_settings`).
    own_pipeline(name)
    if pipelines_dir is None:
        pipelines_dir = get_dlt_pipelines_dir()
        adopt_legacy_folders(pipelines_dir)  # only dlt's own folder held the older layout
    adopt_destination_state(pipelines_dir, name, pipeline_name, destination, dataset_name)
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=destination,
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir,
        progress=progress,
    )
    _remember_duckdb_file(pipeline, destination)
    return pipeline


def own_staging(destination: Destination, key: str) -> Destination:
    """A DuckLake destination whose merge stages in a dataset of this account's own (`key`: its subdomain).

    dlt stages merged rows in `<dataset>_staging`, which it truncates at the start of a load: two
    accounts loading into one lake at once (DuckLake takes several writers, `locking`) would empty
    each other's staged rows, even from two machines that each load "their" one account under the
    same pipeline name. With `<dataset>_staging_<key>` each account stages apart.
    """
    from zendesk_audit.load.state_layout import slug

    params = dict(destination.config_params)
    params["staging_dataset_name_layout"] = "%s_staging_" + slug(key, 40)
    return type(destination)(**params, **destination.caps_params)


def _remember_duckdb_file(pipeline: dlt.Pipeline, destination: Destination) -> None:
    """Keep the DuckDB file's path in the local state, where `dlt pipeline <name> drop|sync` look
    for it (dlt's `duckdb_database` key): without it dlt would open `<name>.duckdb` in the
    current folder instead."""
    credentials = destination.config_params.get("credentials")
    if destination.destination_type != "dlt.destinations.duckdb" or not isinstance(credentials, str):
        return
    try:
        known = pipeline.get_local_state_val("duckdb_database")
    except KeyError:
        known = None
    if known != credentials:
        pipeline.set_local_state_val("duckdb_database", credentials)


def loader_file_format(pipeline: dlt.Pipeline) -> str | None:
    """Parquet where the destination loads it natively (tens of times faster than inserts).

    Elsewhere SQL inserts for rows given as dicts: dlt's CSV writer cannot tell None from "" in a
    dict. Arrow tables take `arrow_file_format`.
    """
    destination = pipeline.destination
    if destination is None:
        return None
    if destination.destination_name in PARQUET_DESTINATIONS:
        return "parquet"
    if "insert_values" in destination.capabilities().supported_loader_file_formats:
        return "insert_values"
    return None


def arrow_file_format(pipeline: dlt.Pipeline) -> str | None:
    """The format of the Arrow tables of `audit_logs`: CSV loaded with COPY on PostgreSQL
    (`postgres_copy`: NULL and "" kept apart), else what `loader_file_format` chose."""
    if uses_bulk_path(pipeline.destination):
        return "csv"
    return loader_file_format(pipeline)


@contextmanager
def write_lock(
    pipeline: dlt.Pipeline, wait_for_lock: float = 0.0, command: str = "load", keep_file_open: bool = True
) -> Iterator[None]:
    """The destination's write lock, shared by `load` and `import-csv` (see `locking`).

    It follows the database, not the state folder: two workers, two DLT_DATA_DIR or a symlinked
    DuckDB path all meet at it. With `keep_file_open` a DuckDB file also stays open for the block,
    so no reader gets in between two chunks; without, only the lock (a load holds it through
    its models build, which opens the file afresh: the load's memory settings stay with the load).

    Raises:
        LoadInProgress: another load or import holds the lock after the wait.
        DatabaseBusy: another process keeps the DuckDB file open after the wait.
    """
    # A DuckLake takes several writers: the lock is per account (its pipeline), which keeps two
    # runs of one account apart (they share the staging dataset) and lets two accounts load at once.
    # Its models builds share one lock per lake and dataset.
    local_key = destination_fingerprint(pipeline.destination, pipeline.dataset_name)
    if is_ducklake(pipeline.destination) and command != "models build":
        local_key = pipeline.pipeline_name
    with destination_lock(
        pipeline.destination,
        pipeline.dataset_name,
        local_key,
        wait_for_lock,
        command,
    ):
        database = duckdb_database(pipeline.destination) if keep_file_open else None
        with duckdb_session(database, read_only=False, wait_seconds=wait_for_lock):
            yield


def current_cursor(pipeline: dlt.Pipeline) -> str | None:
    """The created_at the next incremental run starts from, if any run has set it."""
    value = saved_cursor(pipeline.state)
    return None if value is None else format_time(value)


NO_SQL_ENGINE = "the filesystem destination has no SQL engine: load into DuckDB or a warehouse to use this command"


@contextmanager
def open_database(
    destination: str,
    dataset: str,
    duckdb_path: str,
    wait_for_lock: float = 0.0,
    read_only: bool = True,
    no_sql_engine: str = NO_SQL_ENGINE,
    as_of: str | None = None,
    pin: bool = False,
) -> Iterator[dlt.Pipeline]:
    """The pipeline of a database loaded before, its DuckDB file held open for the whole block.

    Readers (`read_only`) open the DuckDB file read-only, so several can read at once; a reader
    or a writer (`alerts` writes its ledger, `models build` its tables) waits for the file up to
    `wait_for_lock` seconds, then fails in one line (`locking.duckdb_session`). On `iceberg` it is
    the DuckDB file beside the lake (`--duckdb-path`), whose views a writer first moves to the
    lake's current snapshot (`iceberg.refresh_views`).

    On a DuckLake, `pin` (the readers that record what they read: `report`, `evidence`) attaches
    the lake as of one snapshot for the whole block: `as_of` (a snapshot id or a time), else the
    latest. Every query of the block then reads the same data, whatever loads commit meanwhile.

    Raises:
        ConfigurationError: no DuckDB file there, a destination without SQL (filesystem), `as_of`
            on a destination without snapshots or naming none the lake keeps.
        DatabaseBusy: the DuckDB file stayed open in another process for the whole wait.
    """
    lake = destination == ICEBERG
    if destination in ("", "duckdb", ICEBERG) and not os.path.exists(duckdb_path):
        load = "zendesk-audit load --destination iceberg" if lake else "zendesk-audit load"
        raise ConfigurationError(f"no DuckDB file at {duckdb_path}: run `{load}` first or pass --duckdb-path")
    if destination == "filesystem":
        raise ConfigurationError(no_sql_engine)
    if lake:
        install_extensions()  # this machine's DuckDB reads the views offline, whoever loaded them
    pipeline = create_pipeline("duckdb" if lake else destination, dataset, duckdb_path, read_only=read_only)
    if is_ducklake(pipeline.destination) and pin:
        pipeline = pin_snapshot(pipeline, as_of)
    elif as_of is not None:
        raise ConfigurationError(
            f"--as-of reads a past snapshot of a DuckLake; the {destination or 'duckdb'} destination keeps none: "
            "use --destination ducklake, or leave --as-of out"
        )
    with duckdb_session(duckdb_database(pipeline.destination), read_only=read_only, wait_seconds=wait_for_lock):
        if lake and not read_only:
            refresh_views(create_destination(ICEBERG), dataset, duckdb_path)
        yield pipeline


def lake_models_pipeline(pipeline: dlt.Pipeline, duckdb_path: str, wait_for_lock: float = 0.0) -> dlt.Pipeline:
    """For a pipeline into `iceberg`: the DuckDB file beside the lake, where the models are built and
    read, its views moved to the lake's current snapshot under the file's write lock.

    Raises:
        ConfigurationError: the DuckDB file's folder does not exist, or the catalog cannot be opened.
        LoadInProgress, DatabaseBusy: another command holds the file after the wait.
    """
    models = create_pipeline("duckdb", pipeline.dataset_name, duckdb_path)
    with write_lock(models, wait_for_lock, "models build"):
        refresh_views(pipeline.destination, pipeline.dataset_name, duckdb_path)
    return models


def pin_snapshot(pipeline: dlt.Pipeline, as_of: str | None) -> dlt.Pipeline:
    """The pipeline of the same DuckLake attached as of the snapshot `as_of` names (default: the latest)."""
    from zendesk_audit.load.ducklake import as_of_destination, find_snapshot, lake_name, snapshots

    with pipeline.sql_client() as client:
        chosen = find_snapshot(snapshots(client, lake_name(pipeline.destination)), as_of)
    pinned = as_of_destination(pipeline.destination, chosen.snapshot_id)
    pinned_pipeline = create_pipeline(pinned, pipeline.dataset_name, read_only=True)
    _PINNED[pinned_pipeline.destination] = chosen  # what `read_snapshot` answers, without another connection
    return pinned_pipeline


_PINNED: weakref.WeakKeyDictionary[Destination, LakeSnapshot] = weakref.WeakKeyDictionary()


def read_snapshot(pipeline: dlt.Pipeline) -> LakeSnapshot | None:
    """The lake snapshot a pinned pipeline reads (`open_database(pin=True)`); None for any other."""
    from zendesk_audit.load.ducklake import lake_name, pinned_snapshot, snapshots

    snapshot_id = pinned_snapshot(pipeline.destination)
    if snapshot_id is None:
        return None
    if pipeline.destination in _PINNED:
        return _PINNED[pipeline.destination]
    with pipeline.sql_client() as client:
        kept = snapshots(client, lake_name(pipeline.destination))
    return next(item for item in kept if item.snapshot_id == snapshot_id)
