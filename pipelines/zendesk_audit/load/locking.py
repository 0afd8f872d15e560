"""One writer per database, whatever the state folder; readers and writers of a DuckDB file wait for each other.

Why a lock that follows the destination: dlt's merge stages rows in one `<dataset>_staging` table
per dataset. Two runs whose load steps interleave (each truncates staging, both copy, both merge)
leave every record twice, and an import that truncates staging between a load's copy and its
merge makes the load commit its cursor without its records. A lock in the state folder did not
see a second run with another state folder (two orchestrator workers, another DLT_DATA_DIR, the
DuckDB file reached through a symlink), nor `import-csv`, which has a pipeline of its own. So
`load` and `import-csv` take `destination_lock` (through `pipeline.write_lock`) until their models
are built:

- DuckDB: a lock file beside the database file's real path (`zendesk.duckdb.lock`), so every path
  to the file meets the same lock. While it loads, the run keeps the file open (`duckdb_session`):
  DuckDB's own file lock keeps readers out between two chunks, instead of failing the next chunk.
- PostgreSQL: a session advisory lock keyed by (database, dataset), held on a connection of its own.
- any other destination: a lock file in dlt's data folder keyed by destination and dataset; only
  runs on one machine with one DLT_DATA_DIR meet there.

DuckDB lets one process write a file, or several read it, never both. Readers (`report`, `evidence`,
`models status`) open it read-only; `alerts` and `models build` write. A reader that meets a writer,
or a writer that meets a reader, waits up to `--wait-for-lock` seconds with one line on stderr,
then fails with one line (`DatabaseBusy`) naming the other process.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from zendesk_audit.errors import (
    ConfigurationError,
    DatabaseBusy,
    DestinationError,
    LoadInProgress,
    ZendeskAuditError,
    find_cause,
    first_line,
    missing_setting,
)

logger = logging.getLogger("zendesk_audit")

POLL_SECONDS = 0.2
_DUCKDB_CONFLICT = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")
_LOCK_WORDS = ("Could not set lock on file", "Conflicting lock is held")


def holder_line(command: str) -> str:
    """Who holds a lock, as the other side's error line shows it."""
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"zendesk-audit {command}, pid {os.getpid()}, started {started} on {socket.gethostname()}"


def duckdb_database(destination: Any) -> str | None:
    """The DuckDB file a dlt destination writes, as dlt opens it; None for any other destination."""
    if not str(getattr(destination, "destination_type", "")).endswith(".duckdb"):
        return None
    try:
        from zendesk_audit.load.destination_config import partial_configuration

        credentials = partial_configuration(destination).credentials
    except Exception:  # noqa: BLE001 - unresolvable: dlt reports it when the run starts
        return None
    database = getattr(credentials, "database", None)
    if not isinstance(database, str) or not database or database.startswith(":") or "://" in database:
        return None  # in memory, `:pipeline:`, MotherDuck: no local file to meet at
    return database


def duckdb_lock_path(database: str) -> str:
    """The lock file of a DuckDB database: beside its real path, so a symlinked path meets it too."""
    return os.path.realpath(database) + ".lock"


def _waiting(what: str, wait_seconds: float, announced: list[bool]) -> None:
    if not announced:
        announced.append(True)
        logger.warning("waiting up to %.0f s: %s", wait_seconds, what)


# ----------------------------------------------------------------------------- writers
# The locks this thread holds (lock file path, or PostgreSQL key) and how deep: a load holds its
# lock through its models build, and `load.runner.run_chunks` inside it takes the same lock again. Per thread:
# two loads in two threads of one process (an in-process orchestrator) must still meet the lock.
_THREAD = threading.local()


def _held() -> dict[str, int]:
    if not hasattr(_THREAD, "held"):
        _THREAD.held = {}
    return _THREAD.held  # type: ignore[no-any-return]


@contextmanager
def destination_lock(destination: Any, dataset_name: str, local_key: str, wait_seconds: float = 0.0,
                     command: str = "load") -> Iterator[None]:
    """Hold the destination's write lock for the block, waiting up to `wait_seconds` for it.

    Re-entrant within a process. It does not keep a DuckDB file open: see `duckdb_session`.

    Args:
        local_key: names the lock file of destinations that have neither a DuckDB file nor
            PostgreSQL's advisory locks (`pipeline.destination_fingerprint`).
        command: who holds it, for the other side's error line.

    Raises:
        LoadInProgress: another load or import holds the lock after the wait.
        ConfigurationError: the lock file cannot be created (a read-only folder).
    """
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    database = duckdb_database(destination)
    if database is not None:
        held, lock = duckdb_lock_path(database), _file_lock
    elif str(getattr(destination, "destination_type", "")).endswith(".postgres"):
        held, lock = f"postgres:{_postgres_identity(destination)}|{dataset_name}", None
    else:
        from dlt.common.pipeline import get_dlt_pipelines_dir

        held = os.path.join(os.path.dirname(get_dlt_pipelines_dir()), "locks", f"zendesk_audit-{local_key}.lock")
        lock = _file_lock
    depth = _held()
    if depth.get(held):
        depth[held] += 1
        try:
            yield
        finally:
            depth[held] -= 1
        return
    acquired = (
        lock(held, deadline, wait_seconds, command) if lock is not None
        else _postgres_lock(destination, dataset_name, deadline, wait_seconds, command)
    )
    with acquired:
        depth[held] = 1
        try:
            yield
        finally:
            depth.pop(held, None)


def _postgres_identity(destination: Any) -> str:
    """host:port/database of a SQL destination, for telling this process's PostgreSQL locks apart."""
    try:
        from zendesk_audit.load.destination_config import partial_configuration

        credentials = partial_configuration(destination).credentials
    except Exception:  # noqa: BLE001 - the lock itself reports unusable credentials
        return ""
    return f"{getattr(credentials, 'host', '')}:{getattr(credentials, 'port', '')}/{getattr(credentials, 'database', '')}"


def _running(holder: str) -> str:
    return f"another load into this database is running ({holder or 'another process'})"


def _busy_line(holder: str) -> str:
    return f"{_running(holder)}: it will load the new records; run again later, or pass --wait-for-lock SECONDS"


@contextmanager
def _file_lock(path: str, deadline: float, wait_seconds: float, command: str) -> Iterator[None]:
    """An exclusive `filelock` on `path`; the holder's line is written into the file for the waiters."""
    from filelock import FileLock, Timeout

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lock = FileLock(path)
        announced: list[bool] = []
        while True:
            try:
                lock.acquire(timeout=0)
                break
            except Timeout:
                if time.monotonic() >= deadline:
                    raise LoadInProgress(_busy_line(_read_holder(path))) from None
                _waiting(_running(_read_holder(path)), wait_seconds, announced)
                time.sleep(POLL_SECONDS)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the lock file {path} ({exc.strerror or type(exc).__name__}): a load needs write access "
            "to the folder of the database file"
        ) from None
    holder = holder_line(command)
    try:
        # filelock 3.x truncates the file on every attempt, so a waiter may find it empty: best effort.
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(holder)
        yield
    finally:
        _mark_free(path, holder)
        lock.release()


FREE = "free"


def _mark_free(path: str, holder: str) -> None:
    """Say in the lock file that no run holds it, before letting go of it.

    The file itself stays: deleting a lock file while others wait on it lets two runs hold two
    different files at once (one locks the unlinked file, the next creates a new one). Its text is
    what a person reads: it must not name a run that has ended.
    """
    ended = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"{FREE}: no zendesk-audit run holds this lock (the last was {holder}, ended {ended})\n")
    except OSError:
        pass  # the lock itself is released either way


def _read_holder(path: str) -> str:
    """The line of the run that holds the lock; '' when unknown or free."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(300).strip()
    except OSError:
        return ""
    return "" if text.startswith(FREE) else text


def advisory_key(database: str, dataset_name: str) -> int:
    """PostgreSQL's bigint advisory-lock key for one dataset of one database."""
    digest = hashlib.sha256(f"zendesk_audit|{database}|{dataset_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _postgres_lock(destination: Any, dataset_name: str, deadline: float, wait_seconds: float, command: str) -> Iterator[None]:
    """A session advisory lock on a connection of its own, held for the block (released if the process dies)."""
    import psycopg2
    from dlt.common.configuration.exceptions import ConfigurationException

    spec = destination.spec()
    spec.dataset_name = dataset_name  # only the credentials matter here; dlt insists on a dataset
    try:
        credentials = destination.configuration(spec).credentials
    except ConfigurationException as exc:  # e.g. a URL without a password: dlt's "Missing 1 field(s)"
        raise missing_setting(exc) from None
    key = advisory_key(str(getattr(credentials, "database", "")), dataset_name)
    try:
        connection = psycopg2.connect(credentials.to_native_representation(), application_name=holder_line(command)[:63])
    except psycopg2.Error as exc:
        from zendesk_audit.load.destination_errors import destination_line

        raise DestinationError(f"cannot take the load lock on PostgreSQL: {destination_line(exc)}") from None
    connection.autocommit = True
    try:
        announced: list[bool] = []
        with connection.cursor() as cursor:
            while True:
                cursor.execute("select pg_try_advisory_lock(%s)", (key,))
                if cursor.fetchone()[0]:
                    break
                holder = _postgres_holder(cursor, key)
                if time.monotonic() >= deadline:
                    raise LoadInProgress(_busy_line(holder))
                _waiting(_running(holder), wait_seconds, announced)
                time.sleep(POLL_SECONDS)
        yield
    finally:
        connection.close()  # ends the session: the advisory lock goes with it


def _postgres_holder(cursor: Any, key: int) -> str:
    """The holder's application_name (our holder line) and backend pid, from pg_locks."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    cursor.execute(
        "select activity.application_name, activity.pid from pg_locks as locks "
        "join pg_stat_activity as activity on activity.pid = locks.pid "
        "where locks.locktype = 'advisory' and locks.granted and locks.objsubid = 1 "
        "and locks.classid = %s and locks.objid = %s and locks.database = "
        "(select oid from pg_database where datname = current_database())",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    )
    row = cursor.fetchone()
    if row is None:
        return ""
    return row[0] if row[0] else f"postgres backend pid {row[1]}"


# ----------------------------------------------------------------------------- DuckDB's file lock
def duckdb_busy(exc: BaseException, database: str | None = None) -> DatabaseBusy | None:
    """DuckDB's "Could not set lock on file" (inside dlt's wrappers) as one line; None for any other error."""
    import duckdb

    cause = find_cause(exc, duckdb.IOException)
    text = str(cause) if cause is not None else ""
    if not any(words in text for words in _LOCK_WORDS):
        return None
    return _conflict(text, database)


def _conflict(text: str, database: str | None) -> DatabaseBusy:
    name = os.path.basename(database) if database else "the DuckDB file"
    match = _DUCKDB_CONFLICT.search(text)
    holder = f"{os.path.basename(match['program'])}, pid {match['pid']}" if match else "another process"
    if match and database:
        ours = _read_holder(duckdb_lock_path(database))
        if f", pid {match['pid']}," in ours:  # our own lock file names the same process: say what it runs
            holder = ours
    if "read-only mode" in text:  # DuckDB adds this when the other process only reads
        return DatabaseBusy(
            f"{name} is open for reading in another process ({holder}: a report, the DuckDB CLI or a BI tool)",
            "close it and run again, or pass --wait-for-lock SECONDS",
        )
    return DatabaseBusy(
        f"{name} is being written by another process ({holder})",
        "run this again when that run ends, or pass --wait-for-lock SECONDS",
    )


@contextmanager
def duckdb_session(
    database: str | None, read_only: bool, wait_seconds: float = 0.0, deadline: float | None = None
) -> Iterator[None]:
    """Keep the DuckDB file open in this process for the block, waiting up to `wait_seconds` to open it.

    dlt opens and closes the file many times in one run (each step, each chunk); connections in one
    process share one database instance, so while this one stays open DuckDB's file lock stays
    with this process: another process cannot slip in between two of dlt's connections. It must
    be opened like dlt opens it (the same path and `read_only`), or DuckDB refuses dlt's connection.
    None (not DuckDB): nothing to hold.

    Raises:
        DatabaseBusy: another process still has the file open (for writing, or for reading when
            this one writes) after the wait.
    """
    if database is None:
        yield
        return
    import duckdb

    if deadline is None:  # else the wait started with the caller's own lock
        deadline = time.monotonic() + max(wait_seconds, 0.0)
    announced: list[bool] = []
    while True:
        try:
            connection = duckdb.connect(database, read_only=read_only)
            break
        except duckdb.IOException as exc:
            busy = duckdb_busy(exc, database)
            if busy is None:
                from zendesk_audit.load.destination_errors import destination_problem

                problem = destination_problem(exc, database)  # read-only file, not a DuckDB file, ...
                raise problem or ZendeskAuditError(f"cannot open {database}: {first_line(exc)}") from None
            if time.monotonic() >= deadline:
                raise busy from None
            _waiting(busy.situation, wait_seconds, announced)
            time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        connection.close()
