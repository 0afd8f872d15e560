"""Where a load's dlt state lives: one dlt pipeline per account, database and dataset.

dlt keys state by pipeline name, locally (a working folder in dlt's pipelines folder) and in the
destination (`_dlt_pipeline_state`). Two databases loaded under one name would share one cursor,
and the second would silently miss everything before it. So the name carries the database:
`<base>_<destination>_<dataset>_<key>`, e.g. `zendesk_audit_duckdb_zendesk_audit_3942703e`, where
`<base>` is `zendesk_audit` (one account), `zendesk_audit_<subdomain>` (several accounts) or
`zendesk_audit_csv` (CSV imports), and `<key>` is 8 hex digits of `destination_fingerprint`: the
database's address without any secret. Every pipeline sits directly in dlt's pipelines folder
(`$DLT_DATA_DIR/pipelines`), so `dlt pipeline <name> info|trace|drop|sync` find it without flags.

Older versions named every database's pipeline `<base>` and kept it in
`<pipelines folder>/<base>/<12 hex key>/<base>/`: dlt's CLI found none of them, and
`dlt pipeline zendesk_audit info` wiped the whole `<base>` folder. Two adoptions carry that state
over, and neither loses a cursor:

- `adopt_legacy_folders` moves each old folder to its new name. Its key is the first 12 digits of
  the same fingerprint, and its state names the destination and dataset, so every old folder is
  renamed at once, without opening any database.
- `adopt_destination_state` covers a machine without the old folder (an ephemeral worker, a lost
  disk): when the new name has no local state, the destination's state is restored from
  `_dlt_pipeline_state` under the new name, and failing that under the old name `<base>`.

The same fallback keeps the cursor of a database reached under a new address (a moved DuckDB
file, another host name or port): its key changes, but the dataset still holds the state saved
under the old key, `<base>_<destination>_<dataset>_<other key>`, and the newest one is adopted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile

import dlt
from dlt.common.destination.reference import Destination
from dlt.common.versioned_state import json_decode_state, json_encode_state
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.state_sync import bump_pipeline_state_version_if_modified

logger = logging.getLogger("zendesk_audit")

STATE_FILE = "state.json"
# Credential fields that name a database (never a secret): what makes two destinations different.
_IDENTITY_FIELDS = (
    "drivername",
    "host",
    "port",
    "database",
    "username",
    "project_id",
    "account",
    "server_hostname",
    "http_path",
    "catalog",
)
_LEGACY_KEY = re.compile(r"^[0-9a-f]{12}$")
_KEY_DIGITS = 8


def destination_fingerprint(destination: Destination, dataset_name: str) -> str:
    """A short, stable, secret-free key for "this database and dataset"."""
    parts = [destination.destination_type, destination.destination_name or "", dataset_name]
    try:
        from zendesk_audit.load.destination_config import partial_configuration

        config = partial_configuration(destination)
    except Exception:  # noqa: BLE001 - an unresolvable config still gets a per-name key
        config = None
    credentials = getattr(config, "credentials", None)
    for name in _IDENTITY_FIELDS:
        value = getattr(credentials, name, None)
        if name == "database" and destination.destination_type.endswith(".duckdb") and isinstance(value, str):
            value = os.path.realpath(value)  # one file, one key: a symlinked path is the same database
        if value is not None:
            parts.append(f"{name}={value}")
    parts.append(str(getattr(config, "bucket_url", "") or ""))
    from zendesk_audit.load.ducklake import is_ducklake, lake_identity

    if is_ducklake(destination):
        try:
            parts.append(lake_identity(destination))
        except Exception:  # noqa: BLE001 - unresolvable: dlt reports it when the run starts
            pass
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def account_pipeline_name(subdomain: str) -> str:
    """`zendesk_audit_<subdomain>`: the base name of one account's pipelines, hence one state per account.

    Several accounts in one dataset use it; so does every load into a DuckLake, which several
    machines share, each perhaps configured with "its" one account: under the one-account name
    `zendesk_audit` they would restore each other's cursor from the lake and skip records."""
    from zendesk_audit.settings import DEFAULT_PIPELINE_NAME

    return f"{DEFAULT_PIPELINE_NAME}_{re.sub(r'[^a-z0-9_]', '_', subdomain.lower())}"


def slug(text: str, limit: int) -> str:
    """Letters, digits and single underscores: a pipeline name is a folder and a config section."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].strip("_") or "x"


def _compose(base: str, destination_name: str, dataset_name: str, key: str) -> str:
    return f"{base}_{slug(destination_name, 24)}_{slug(dataset_name, 40)}_{key[:_KEY_DIGITS]}"


def _same_but_key(name: str) -> re.Pattern[str]:
    """The names that differ from `name` in the key only: the same account, destination and dataset."""
    return re.compile(re.escape(name[: -_KEY_DIGITS]) + f"[0-9a-f]{{{_KEY_DIGITS}}}$")


def names_of(base: str, destination_name: str, dataset_name: str) -> re.Pattern[str]:
    """The dlt names `base` has loaded into a dataset under, whatever the database's key (a moved
    file, another host): for reading `_dlt_pipeline_state` rows, where the dataset is known."""
    return _same_but_key(_compose(base, destination_name, dataset_name, "0" * _KEY_DIGITS))


def state_pipeline_name(base: str, destination: Destination, dataset_name: str) -> str:
    """The dlt pipeline name of `base` loading into this database and dataset (stable, secret-free).

    Example:
        >>> state_pipeline_name("zendesk_audit", create_destination("duckdb"), "zendesk_audit")
        'zendesk_audit_duckdb_zendesk_audit_3942703e'
    """
    return _compose(base, destination.destination_name, dataset_name, destination_fingerprint(destination, dataset_name))


def _load_state(working_dir: str) -> dict | None:
    try:
        with open(os.path.join(working_dir, STATE_FILE), encoding="utf-8") as handle:
            state = json_decode_state(handle.read())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _install(working_dir: str, target: str, name: str) -> bool:
    """Move a pipeline's working folder to `target`, renamed `name` in its state; False if `target` exists.

    The state's version is bumped, so the next load writes it to the destination under the new name.
    """
    state = _load_state(working_dir)
    if state is None or os.path.exists(target):
        return False
    try:
        os.rename(working_dir, target)
    except OSError:  # another process installed it first
        return False
    state["pipeline_name"] = name
    bump_pipeline_state_version_if_modified(state)  # type: ignore[arg-type]
    with open(os.path.join(target, STATE_FILE), "w", encoding="utf-8") as handle:
        handle.write(json_encode_state(state))  # type: ignore[arg-type]
    return True


def adopt_legacy_folders(pipelines_dir: str) -> list[str]:
    """Move every working folder of the older layout to its name in this one; the names adopted.

    A folder whose new name already exists is left where it is, with a warning: the newer one wins.
    """
    adopted: list[str] = []
    try:
        bases = sorted(os.listdir(pipelines_dir))
    except OSError:
        return adopted
    for base in bases:
        outer = os.path.join(pipelines_dir, base)
        if not os.path.isdir(outer) or os.path.exists(os.path.join(outer, STATE_FILE)):
            continue  # a pipeline of this layout (or anyone's), not a folder of keys
        for key in sorted(os.listdir(outer)):
            working = os.path.join(outer, key, base)
            state = _load_state(working) if _LEGACY_KEY.match(key) else None
            if state is None or state.get("pipeline_name") != base:
                continue
            destination_name = state.get("destination_name") or Destination.to_name(
                str(state.get("destination_type") or "unknown")
            )
            name = _compose(base, destination_name, str(state.get("dataset_name") or ""), key)
            if not _install(working, os.path.join(pipelines_dir, name), name):
                logger.warning(
                    "kept the older state folder %s: pipeline %s already has state; delete the folder once "
                    "`dlt pipeline %s info` shows the right cursor", working, name, name,
                )
                continue
            adopted.append(name)
            for leftover in ("load.lock",):
                try:
                    os.remove(os.path.join(outer, key, leftover))
                except OSError:
                    pass
            for folder in (os.path.join(outer, key), outer):
                try:
                    os.rmdir(folder)
                except OSError:
                    break
    return adopted


def _missing_duckdb_file(destination: Destination) -> bool:
    """True for a DuckDB destination whose file does not exist: nothing to restore, and nothing to create."""
    if destination.destination_type != "dlt.destinations.duckdb":
        return False
    try:
        from zendesk_audit.load.destination_config import partial_configuration

        config = partial_configuration(destination)
        database = config.credentials.database
    except Exception:  # noqa: BLE001 - unknown location: do not open anything
        return True
    return not isinstance(database, str) or database.startswith(":") or not os.path.exists(database)


def _for_reading(destination: Destination) -> Destination:
    """The same DuckDB file opened read-only (it only reads the saved state, beside any other
    reader: a report, a BI tool); any other destination as it is."""
    if destination.destination_type != "dlt.destinations.duckdb":
        return destination
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    database = destination.configuration(destination.spec(), accept_partial=True).credentials.database
    return dlt.destinations.duckdb(credentials=DuckDbCredentials(database, read_only=True))


def adopt_destination_state(pipelines_dir: str, name: str, base: str, destination: Destination, dataset_name: str) -> str | None:
    """Restore the destination's state under `name` when there is no local state for it.

    Tries `name` first, then the older name `base` (a worker that never ran this version gets the
    cursor the older version saved), then on SQL destinations the newest state saved under another
    key of the same account and dataset (the database was reached under another address). Each try
    is a throwaway pipeline in a scratch folder that dlt restores from `_dlt_pipeline_state`; the
    first one found becomes `name`'s working folder.
    Returns the name whose state was adopted, or None (nothing saved, or local state exists).

    Raises:
        ZendeskAuditError: the destination cannot be read (a file another run holds is skipped).
    """
    if os.path.exists(os.path.join(pipelines_dir, name)) or _missing_duckdb_file(destination):
        return None
    os.makedirs(pipelines_dir, exist_ok=True)
    # In the pipelines folder, so that the adopted folder is moved in place, not copied.
    scratch = tempfile.mkdtemp(prefix=".adopting-", dir=pipelines_dir)
    destination = _for_reading(destination)
    try:
        candidates = list(dict.fromkeys((name, base)))
        while candidates:
            candidate = candidates.pop(0)
            probe = dlt.pipeline(candidate, pipelines_dir=scratch, destination=destination, dataset_name=dataset_name)
            try:
                probe.sync_destination()
            except PipelineStepFailed as exc:
                from zendesk_audit.errors import DatabaseBusy
                from zendesk_audit.load.runner import step_failure

                failure = step_failure(probe, exc)
                if isinstance(failure, DatabaseBusy):
                    # Another run has the file open: it saves its state under `name`, which dlt
                    # restores when this run's own load starts, under the write lock.
                    logger.info("state not adopted now: %s", failure)
                    return None
                if failure is exc:
                    raise
                raise failure from None
            if not probe.first_run and _install(probe.working_dir, os.path.join(pipelines_dir, name), name):
                if candidate != name:
                    logger.info("adopted the state of pipeline %s as %s", candidate, name)
                return candidate
            if candidate == base:
                candidates = _saved_under_other_keys(probe, name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return None


def _saved_under_other_keys(probe: dlt.Pipeline, name: str) -> list[str]:
    """Pipeline names in the dataset's `_dlt_pipeline_state` that differ from `name` in the key
    only, the most recently saved first; none where the destination has no SQL or no such table."""
    pattern = _same_but_key(name)
    try:
        with probe.sql_client() as client:
            table = client.make_qualified_table_name("_dlt_pipeline_state")
            rows = client.execute_sql(f"select pipeline_name, max(created_at) from {table} group by pipeline_name")
    except Exception:  # noqa: BLE001 - no SQL, no dataset or no state table: nothing saved elsewhere
        return []
    found = [(saved, str(other)) for other, saved in rows or [] if other != name and pattern.match(str(other))]
    return [other for _, other in sorted(found, key=lambda item: item[0], reverse=True)]
