"""DuckLake: dlt's `ducklake` destination, its extensions loaded from their packages (offline).

A DuckLake is a catalog (a SQLite file by default, beside the data, or a PostgreSQL database that
several machines share) plus Parquet files in a folder or on S3-compatible storage. dlt attaches it
on a DuckDB in memory for every connection; it relies on DuckDB's automatic extension install for
`ducklake` and the catalog's scanner, which downloads. `offline_ducklake` is dlt's destination
whose credentials load them from their Python packages instead (`duckdb_extensions`), with the
downloads switched off. Its destination type stays `dlt.destinations.ducklake`, so dlt's state,
`dlt pipeline` commands and the configuration sections (`[destination.ducklake.credentials]`) are
dlt's own:

    [destination.ducklake.credentials]
    ducklake_name = "zendesk_lake"                  # the ATTACH name; default: ducklake
    catalog = "sqlite:///lake/zendesk_lake.sqlite"  # or postgresql://user:pw@host:5432/db
    storage = "lake/zendesk_lake.files"             # or s3://bucket/prefix (+ storage.credentials)

A DuckLake takes several writers at once (each commit is a snapshot; conflicting commits retry),
so its loads need no write lock of ours (`locking`), and every commit stays readable as of its
snapshot (`lake_snapshots`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dlt.common.configuration import configspec
from dlt.destinations import ducklake
from dlt.destinations.impl.ducklake.configuration import DuckLakeClientConfiguration, DuckLakeCredentials

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.load.duckdb_extensions import OFFLINE_SETTINGS, lake_extensions, load_statements
from zendesk_audit.times import parse_utc

DUCKLAKE_TYPE = "dlt.destinations.ducklake"


@configspec(init=False)
class OfflineDuckLakeCredentials(DuckLakeCredentials):
    """dlt's DuckLake credentials, with the lake's extensions loaded from their packages on every connection."""

    def on_resolved(self) -> None:
        protocol = self.storage.protocol if self.storage is not None else None
        driver = self.catalog.drivername if self.catalog is not None else None
        self.extensions = load_statements(lake_extensions(driver, protocol))
        self.global_config = {**OFFLINE_SETTINGS, **(self.global_config or {})}
        super().on_resolved()


@configspec
class OfflineDuckLakeConfiguration(DuckLakeClientConfiguration):
    credentials: OfflineDuckLakeCredentials = None
    as_of_snapshot: int | None = None
    """Attach the lake as of this snapshot (read-only): what `report` and `evidence` read (`pin_snapshot`)."""


class offline_ducklake(ducklake):  # noqa: N801 - dlt names destination factories in lower case
    """dlt's ducklake destination that never downloads an extension (see the module)."""

    @property
    def destination_type(self) -> str:
        return DUCKLAKE_TYPE

    @property
    def spec(self) -> type:
        return OfflineDuckLakeConfiguration

    @property
    def client_class(self) -> type:
        return _pinned_client_class()


def attach_as_of(statement: str, snapshot_id: int) -> str:
    """dlt's `ATTACH ... (DATA_PATH ..., ...)` with `SNAPSHOT_VERSION` added to its options."""
    statement = statement.rstrip().rstrip(";")
    if not statement.endswith(")"):
        raise ValueError("dlt's ATTACH statement has no option list")
    return f"{statement[:-1]}, SNAPSHOT_VERSION {int(snapshot_id)})"


def _pinned_client_class() -> type:
    from dlt.destinations.impl.ducklake.ducklake import DuckLakeClient

    class PinnedDuckLakeClient(DuckLakeClient):
        """dlt's DuckLake client; with `as_of_snapshot` its connections attach the lake as of that snapshot."""

        def __init__(self, schema: Any, config: Any, capabilities: Any) -> None:
            super().__init__(schema, config, capabilities)
            snapshot = getattr(config, "as_of_snapshot", None)
            if snapshot is not None:
                self.sql_client._attach_statement = attach_as_of(self.sql_client.attach_statement, snapshot)

    return PinnedDuckLakeClient


def with_offline_extensions(destination: Any) -> Any:
    """`destination` itself, or for DuckLake the same destination (name, credentials, options) as `offline_ducklake`."""
    if getattr(destination, "destination_type", None) != DUCKLAKE_TYPE or isinstance(destination, offline_ducklake):
        return destination
    return offline_ducklake(**destination.config_params, **destination.caps_params)


def is_ducklake(destination: Any) -> bool:
    return getattr(destination, "destination_type", None) == DUCKLAKE_TYPE


def lake_configuration(destination: Any, dataset_name: str = "zendesk_audit") -> Any:
    """The destination's configuration, fully resolved: dlt fills in the default catalog and data
    folder (in the working folder) only then, so a partial resolution cannot say where the lake is.

    Raises:
        whatever dlt raises for a configuration it cannot resolve.
    """
    spec = destination.spec()
    spec.dataset_name = dataset_name  # dlt insists on one; the lake's address does not depend on it
    return destination.configuration(spec)


def lake_identity(destination: Any) -> str:
    """Where the lake is, without a secret: the catalog's location (file path, or host/database#schema)
    and the data's URL. Two working folders with the default catalog are two lakes."""
    credentials = lake_configuration(destination).credentials
    return f"{credentials.catalog_location()}|{credentials.storage.bucket_url}"


# ----------------------------------------------------------------------------- snapshots (time travel)
@dataclass(frozen=True)
class LakeSnapshot:
    """One snapshot of the lake: every commit makes one, and the lake reads as of any that is kept."""

    snapshot_id: int
    snapshot_time: str  # ISO 8601, UTC, to the microsecond: `--as-of` with it finds this snapshot again

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.snapshot_id, "time": self.snapshot_time}

    def words(self) -> str:
        return f"lake snapshot {self.snapshot_id} of {self.snapshot_time}"

    @property
    def moment(self) -> datetime:
        return parse_utc(self.snapshot_time)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return str(value)


def lake_name(destination: Any) -> str:
    """The name the lake is attached under in dlt's connections (`ducklake_name`), quoted."""
    name = str(lake_configuration(destination).credentials.ducklake_name)
    return '"' + name.replace('"', '""') + '"'


def snapshots(client: Any, lake: str) -> list[LakeSnapshot]:
    """Every snapshot the lake keeps, oldest first (`client`: an open dlt SQL client of the lake)."""
    rows = client.execute_sql(f"select snapshot_id, snapshot_time from {lake}.snapshots() order by snapshot_id")
    return [LakeSnapshot(int(snapshot_id), _iso(moment)) for snapshot_id, moment in rows or []]


def find_snapshot(kept: list[LakeSnapshot], as_of: str | None) -> LakeSnapshot:
    """The snapshot `as_of` names: a snapshot id, or a time (the last snapshot at or before it);
    None: the latest.

    Raises:
        ConfigurationError: no such snapshot is kept, or `as_of` is neither (exit 2).
    """
    if not kept:
        raise ConfigurationError("the lake has no snapshot yet: run `zendesk-audit load --destination ducklake` first")
    if as_of is None:
        return kept[-1]
    text = as_of.strip()
    if text.isdigit():
        for snapshot in kept:
            if snapshot.snapshot_id == int(text):
                return snapshot
        raise ConfigurationError(
            f"--as-of {text}: the lake keeps no snapshot {text} (kept: {kept[0].snapshot_id} to {kept[-1].snapshot_id}; "
            "an expired snapshot cannot be read again)"
        )
    try:
        moment = parse_utc(text)
    except ValueError:
        raise ConfigurationError(
            f"--as-of {text}: pass a snapshot id (e.g. 42) or an ISO time (e.g. 2026-09-30T18:00:00Z)"
        ) from None
    earlier = [item for item in kept if item.moment <= moment]
    if not earlier:
        raise ConfigurationError(f"--as-of {text}: the lake's oldest kept snapshot is later ({kept[0].words()})")
    return earlier[-1]


def pinned_snapshot(destination: Any) -> int | None:
    """The snapshot a destination made by `pin_snapshot` reads, if any."""
    return destination.config_params.get("as_of_snapshot") if is_ducklake(destination) else None


def as_of_destination(destination: Any, snapshot_id: int) -> Any:
    """The same DuckLake destination, attached as of `snapshot_id` (read-only)."""
    params = {**destination.config_params, "as_of_snapshot": int(snapshot_id)}
    return offline_ducklake(**params, **destination.caps_params)


def committed_snapshot(client: Any, lake: str, loads_table: str, load_id: str) -> LakeSnapshot | None:
    """The snapshot in which `load_id` committed: the first whose `_dlt_loads` (`loads_table`, qualified)
    holds it. dlt writes that row last, after the load's data, so this snapshot holds all of the load
    and nothing of a load that committed after it. Found by bisection with time travel (`AT (VERSION => n)`)."""
    kept = snapshots(client, lake)
    literal = "'" + load_id.replace("'", "''") + "'"

    def holds(snapshot: LakeSnapshot) -> bool:
        try:
            rows = client.execute_sql(
                f"select count(*) from {loads_table} at (version => {snapshot.snapshot_id}) where load_id = {literal}"
            )
        except Exception:  # noqa: BLE001 - the table did not exist yet at that snapshot
            return False
        return bool(rows and rows[0][0])

    low, high = 0, len(kept) - 1
    if high < 0 or not holds(kept[high]):
        return None
    while low < high:
        middle = (low + high) // 2
        if holds(kept[middle]):
            high = middle
        else:
            low = middle + 1
    return kept[low]


def unpinned(destination: Any) -> Any:
    """The same DuckLake destination as it is now (not as of a snapshot), for writing."""
    params = {key: value for key, value in destination.config_params.items() if key != "as_of_snapshot"}
    return offline_ducklake(**params, **destination.caps_params)
