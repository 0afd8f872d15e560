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

from typing import Any

from dlt.common.configuration import configspec
from dlt.destinations import ducklake
from dlt.destinations.impl.ducklake.configuration import DuckLakeClientConfiguration, DuckLakeCredentials

from zendesk_audit.load.duckdb_extensions import OFFLINE_SETTINGS, lake_extensions, load_statements

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


class offline_ducklake(ducklake):  # noqa: N801 - dlt names destination factories in lower case
    """dlt's ducklake destination that never downloads an extension (see the module)."""

    @property
    def destination_type(self) -> str:
        return DUCKLAKE_TYPE

    @property
    def spec(self) -> type:
        return OfflineDuckLakeConfiguration


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
