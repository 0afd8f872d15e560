"""DuckDB extensions loaded from their Python packages, never downloaded.

DuckDB fetches an extension it lacks (`ducklake`, `sqlite_scanner`, `postgres_scanner`, `httpfs`)
from its repository the first time a statement needs it: on a machine without internet access, a
fresh machine or a locked-down worker, `ATTACH 'ducklake:...'` then fails or hangs. The registry
ships these extensions as Python packages (`duckdb-extension-<name>`, installed with the extra
`lake`), each holding one file, `duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension`,
built for exactly one DuckDB version. That is why `duckdb` is pinned to the version those packages
exist for (pyproject.toml).

Every lake connection (dlt's, dbt's, the readers') therefore starts with `OFFLINE_SETTINGS` (no
automatic install, no automatic load) and `LOAD '<path in the package>'` for each extension it
needs: a missing package is one line saying which extra to install, never a download.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zendesk_audit.errors import ConfigurationError

# Set on every lake connection before it loads or attaches anything.
OFFLINE_SETTINGS: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# The extension's name -> the importable package that ships it (dashes become underscores).
PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "httpfs": "duckdb_extension_httpfs",
    "iceberg": "duckdb_extension_iceberg",
    "avro": "duckdb_extension_avro",
}
INSTALL_HINT = "pip install 'zendesk-audit[lake]'"


def extension_path(name: str) -> str:
    """The extension file of `name` inside its Python package, for the DuckDB version installed.

    Raises:
        ConfigurationError: the package is not installed, or ships no file for this DuckDB version (exit 2).
    """
    import duckdb

    package = PACKAGES.get(name, f"duckdb_extension_{name}")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the DuckDB extension {name} is not installed (package {package.replace('_', '-')}): {INSTALL_HINT}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    path = folder / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ConfigurationError(
            f"the DuckDB extension {name} installed is not for duckdb {duckdb.__version__}: "
            f"pip install duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__} (or {INSTALL_HINT})"
        )
    return str(path)


def load_statements(names: Iterable[str]) -> list[str]:
    """`LOAD '<file>'` for each extension, in order (dlt's `credentials.extensions` takes what follows LOAD)."""
    return ["'" + extension_path(name).replace("'", "''") + "'" for name in names]


def load_extensions(connection: Any, names: Iterable[str]) -> None:
    """Switch off DuckDB's downloads on `connection`, then load each extension from its package."""
    for setting, value in OFFLINE_SETTINGS.items():
        connection.execute(f"set {setting} = {str(value).lower()}")
    for target in load_statements(names):
        connection.execute(f"load {target}")


def lake_extensions(catalog_driver: str | None, storage_protocol: str | None) -> list[str]:
    """The extensions a DuckLake needs: `ducklake`, its catalog's scanner, `httpfs` for object storage.

    `catalog_driver` is the catalog's URL scheme (`sqlite`, `postgres`, `postgresql`, `duckdb`);
    `storage_protocol` the data path's (`file`, `s3`, ...; None or "" for a local folder).
    """
    names = ["ducklake"]
    driver = (catalog_driver or "sqlite").lower()
    if driver == "sqlite":
        names.append("sqlite_scanner")
    elif driver in ("postgres", "postgresql"):
        names.append("postgres_scanner")
    if storage_protocol and storage_protocol not in ("file", "local"):
        names.append("httpfs")
    return names
