"""A destination that cannot be opened, in one line naming what to fix: host and port, database,
user, password or file.

dlt hands the driver's error on as it is (psycopg2's `OperationalError` at the sync step, DuckDB's
`IOException` wrapped in `DestinationConnectionError`): several lines of text, and a traceback when
nothing catches it. The drivers' wording is matched here, in one place, because neither driver
gives these failures a type of their own. Anything not recognised keeps the caller's own message.

`open_sql_client` is how every command that reads or writes the models (models build, alerts,
report, evidence) opens the destination; the load maps its failed steps in `load.runner.step_failure`.
"Another process holds the DuckDB file" has one wording, `locking.duckdb_busy`'s, used first here.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from zendesk_audit.errors import DestinationError, ZendeskAuditError, causes, first_line
from zendesk_audit.text_safety import terminal_text

if TYPE_CHECKING:
    import dlt
    from dlt.destinations.sql_client import SqlClientBase

# libpq: `connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "x" does not exist`
# (or `at "host" (1.2.3.4), port ...`, or `on socket "/run/postgresql/.s.PGSQL.5432" failed: ...`).
_PG_SERVER = re.compile(
    r'connection to server (?:at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)|on socket "(?P<socket>[^"]+)")'
)
_PG_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')
_PG_ROLE = re.compile(r'role "(?P<name>[^"]+)" does not exist')
_PG_PASSWORD = re.compile(r'password authentication failed for user "(?P<name>[^"]+)"')
_PG_HOST_NAME = re.compile(r'could not translate host name "(?P<host>[^"]+)"')
_PG_HBA = re.compile(r'no pg_hba\.conf entry for host "[^"]*", user "(?P<user>[^"]*)", database "(?P<database>[^"]*)"')
_PG_PERMISSION = re.compile(r"permission denied for (?P<kind>database|schema) (?P<name>\S+)")
_DUCKDB_FILE = re.compile(r'(?:Cannot open|Could not read from|Could not write to) file "(?P<path>[^"]+)": (?P<reason>[^\n]+)')
_DUCKDB_INVALID = re.compile(r'The file "(?P<path>[^"]+)" exists, but it is not a valid DuckDB database file')
# A connection string's password, wherever a driver or dlt quotes the string back.
_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+):[^@\s]+@")


def redact(text: str) -> str:
    """`scheme://user:secret@host` as `scheme://user:***@host`: no line may carry a password."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


def _duckdb_problem(text: str) -> str | None:
    invalid = _DUCKDB_INVALID.search(text)
    if invalid:
        return f"{invalid['path']} is not a DuckDB database file: pass --duckdb-path with a DuckDB file (or a new name)"
    match = _DUCKDB_FILE.search(text)
    if match is None:
        return None
    path, reason = match["path"], match["reason"].strip()
    folder = os.path.dirname(path) or "."
    if "Is a directory" in reason:
        return f"--duckdb-path {path} is a folder, not a DuckDB file: pass a file, e.g. {os.path.join(path, 'zendesk.duckdb')}"
    if "No such file or directory" in reason:
        return f"the folder {folder} of the DuckDB file {path} does not exist: create it, or pass another --duckdb-path"
    if "Permission denied" in reason or "Read-only file system" in reason:
        if path.endswith(".wal") or not os.path.exists(path):
            return (
                f"cannot create {path}: the folder {folder} is not writable (DuckDB writes the database and its .wal "
                "file there): make it writable for this user, or pass --duckdb-path in a writable folder"
            )
        return (
            f"the DuckDB file {path} is read-only ({reason}): every command opens it for writing; make it writable "
            "for this user, or pass --duckdb-path with a writable copy"
        )
    return None


def _postgres_problem(text: str) -> str | None:
    server = _PG_SERVER.search(text)
    if server and server["socket"]:
        where = f"the PostgreSQL socket {server['socket']}"
    elif server:
        where = f"PostgreSQL at {server['host']}:{server['port']}"
    else:
        where = "PostgreSQL"
    credentials = "the destination's credentials (DESTINATION__POSTGRES__CREDENTIALS or .dlt/secrets.toml)"
    host_name = _PG_HOST_NAME.search(text)
    if host_name:
        return f"cannot resolve the PostgreSQL host {host_name['host']!r}: check the host in {credentials}"
    if "Connection refused" in text or ("No such file or directory" in text and server and server["socket"]):
        return (
            f"{where} refused the connection: no server listens there; check the host and port in {credentials}, "
            "or start the server"
        )
    match = _PG_PASSWORD.search(text)
    if match:
        return f"{where} refused the password for user {match['name']!r}: check the password in {credentials}"
    match = _PG_DATABASE.search(text)
    if match:
        return (
            f"{where} has no database {match['name']!r}: create it (createdb {match['name']}) or fix the database "
            f"name in {credentials}"
        )
    match = _PG_ROLE.search(text)
    if match:
        return f"{where} has no user {match['name']!r}: create the role or fix the user name in {credentials}"
    match = _PG_HBA.search(text)
    if match:
        return (
            f"{where} does not let user {match['user']!r} connect to database {match['database']!r} from this machine "
            "(pg_hba.conf): ask its administrator to allow it"
        )
    if "no password supplied" in text:
        return f"{where} asks for a password and none was given: put the password in {credentials}"
    if "timeout expired" in text:
        return f"{where} did not answer in time: check the host and port in {credentials}, and any firewall"
    match = _PG_PERMISSION.search(text)
    if match:
        return (
            f"{where}: the user may not create tables in {match['kind']} {match['name']}: grant it CREATE there, "
            "or load into another --dataset"
        )
    return None


def destination_problem(exc: BaseException, database: str | None = None) -> ZendeskAuditError | None:
    """One line for a destination that cannot be opened or written, from any exception dlt
    wrapped around the driver's; None when nothing in the chain is recognised.

    `database` is the DuckDB file, if any: a lock held by another process names it and the holder.
    """
    from zendesk_audit.load.locking import duckdb_busy

    busy = duckdb_busy(exc, database)
    if busy is not None:  # another process holds the file: not a credentials problem
        return busy
    for current in causes(exc):
        text = str(current)
        problem = _duckdb_problem(text) or _postgres_problem(text)
        if problem:
            return DestinationError(terminal_text(redact(problem)))
    return None


def destination_line(exc: BaseException) -> str:
    """What to show for a destination failure: the recognised line, else the driver's first line
    without any password."""
    problem = destination_problem(exc)
    return str(problem) if problem is not None else redact(first_line(exc))


@contextlib.contextmanager
def open_sql_client(pipeline: dlt.Pipeline) -> Iterator[SqlClientBase[Any]]:
    """`with open_sql_client(pipeline) as client:` the destination's SQL client, opened.

    A failure to open it is one line (`DestinationError`); so is a failure inside the block that
    is the file's or the server's (DuckDB cannot write its .wal at the commit, the connection
    drops), while SQL errors and the caller's own errors pass unchanged.

    Raises:
        DestinationError: the destination refused the connection or the file cannot be opened or written.
    """
    from zendesk_audit.load.locking import duckdb_database

    database = duckdb_database(pipeline.destination)
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(pipeline.sql_client())
        except Exception as exc:
            problem = destination_problem(exc, database)
            if problem is None:
                raise
            raise problem from None
        try:
            yield client
        except ZendeskAuditError:
            raise
        except Exception as exc:
            problem = destination_problem(exc, database)
            if problem is None:
                raise
            raise problem from None
