"""DuckDB extensions from their Python packages, never downloaded.

DuckDB fetches an extension from its own web repository the first time a query needs it, which
fails on a machine without internet (a locked-down server, an air-gapped audit laptop, CI). The
registry ships DuckDB's extensions as Python packages, one per extension and DuckDB version
(`duckdb-extension-iceberg==1.5.5` holds `extensions/v1.5.5/iceberg.duckdb_extension`), so the
extension comes with `pip install` like any other dependency, and this module hands it to DuckDB:

- `INSTALL '<file in the package>'` copies it into DuckDB's extension directory (a local copy, no
  network), where every later connection of every process autoloads it when a query names one of
  its functions: dlt's connections, dbt-duckdb's, the readers', the `duckdb` shell of the same version;
- `LOAD` loads it into this connection now;
- an extension that loads another one when it starts (iceberg loads avro) gets that one first,
  from its package too: DuckDB would otherwise try to download it and fail offline.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from zendesk_audit.errors import ConfigurationError

# What an extension loads itself when it starts, which DuckDB would otherwise download first.
REQUIRED_EXTENSIONS: dict[str, tuple[str, ...]] = {"iceberg": ("avro",)}
# The extra that installs each extension's package (pyproject.toml).
EXTRAS: dict[str, str] = {"iceberg": "iceberg", "avro": "iceberg"}


def package_name(name: str) -> str:
    """The Python package (import name) that ships the DuckDB extension `name`."""
    return f"duckdb_extension_{name}"


def extension_file(name: str, duckdb_version: str) -> Path:
    """The extension's file inside its package, for this DuckDB version (e.g. `v1.5.5`).

    Raises:
        ConfigurationError: the package is not installed, or ships no file for this DuckDB version.
    """
    spec = importlib.util.find_spec(package_name(name))
    install = f"pip install 'zendesk-audit[{EXTRAS.get(name, name)}]'"
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"the DuckDB extension {name} is not installed: {install}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "extensions" / duckdb_version / f"{name}.duckdb_extension"
    if not path.is_file():
        shipped = sorted(item.name for item in (folder / "extensions").glob("v*"))
        raise ConfigurationError(
            f"the package {package_name(name)} ships the {name} extension for DuckDB {', '.join(shipped) or 'no version'}, "
            f"not {duckdb_version}: install the versions pyproject.toml pins ({install})"
        )
    return path


def load_extension(connection: Any, name: str) -> None:
    """Install (from its package) and load the DuckDB extension `name` into `connection`, offline.

    Idempotent: an extension already loaded is left alone, one already installed is only loaded.

    Args:
        connection: a `duckdb.DuckDBPyConnection`.
        name: the extension, e.g. `iceberg`, `ducklake`, `httpfs`.

    Raises:
        ConfigurationError: its package is missing or made for another DuckDB version.
    """
    for required in REQUIRED_EXTENSIONS.get(name, ()):
        load_extension(connection, required)
    row = connection.execute(
        "select installed, loaded from duckdb_extensions() where extension_name = ?", [name]
    ).fetchone()
    installed, loaded = (bool(row[0]), bool(row[1])) if row else (False, False)
    if loaded:
        return
    if not installed:
        version = connection.execute("select library_version from pragma_version()").fetchone()[0]
        path = str(extension_file(name, version)).replace("'", "''")
        connection.execute(f"install '{path}'")
    connection.execute(f"load {name}")
