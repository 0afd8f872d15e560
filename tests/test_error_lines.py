"""Every failure a user meets at the edges (the destination, Zendesk's address, a step after the
load) ends in one line that names what to fix, with the exit code the README documents, no
traceback and no secret; dlt's own log lines stay off the terminal unless asked for.

Each case runs the real command in a child process against real things: the machine's
PostgreSQL, DuckDB files, the sandbox on loopback. The one exception is a wrong PostgreSQL
password: the server here trusts every local connection and its configuration is not ours to
change, so a small fake server on loopback answers as PostgreSQL does (see `FakePostgres`) and
the real driver, psycopg2, produces the error text.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from test_cli import run_cli

from conftest import POSTGRES_URL, _postgres_reachable, bad_seeds_copy, free_port, load_sandbox
from zendesk_audit.errors import CsvImportStopped
from zendesk_audit.extract.csv_source import write_admin_center_csv
from zendesk_audit.load.csv_import import import_csv
from zendesk_audit.load.locking import duckdb_busy
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models
from zendesk_sandbox.handle import Sandbox

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
SECRET = f"pw-{uuid.uuid4().hex}"
# Every command that opens the destination, with what it needs besides the destination options.
COMMANDS: dict[str, list[str]] = {
    "load": ["load", "--no-models"],
    "models build": ["models", "build"],
    "alerts": ["alerts"],
    "report": ["report", "--out", "report.html"],
    "evidence": ["evidence", "--from", "2020-01-01", "--to", "2030-01-01", "--out", "evidence"],
}


def oauth_env(sandbox: Sandbox) -> dict[str, str | None]:
    """OAuth client credentials (no API-token retirement warning on stderr), dlt's log level unset."""
    return {
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__SCOPE": "auditlogs:read read",  # read: the account's time zone
        "RUNTIME__LOG_LEVEL": None,
    }


def one_error_line(done: subprocess.CompletedProcess[str], exit_code: int, *words: str, secret: str = SECRET) -> str:
    """The run's only stderr line, after checking the exit code, the words, no traceback, no secret."""
    context = f"exit {done.returncode}\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-3000:]}"
    assert done.returncode == exit_code, context
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), context
    assert "Traceback" not in done.stderr, context
    for word in words:
        assert word in lines[0], (word, context)
    assert secret not in done.stdout + done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(records=300, seed=141) as running:
        yield running


@pytest.fixture(scope="module")
def loaded_database(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with the sandbox loaded and the models built: what every command reads."""
    path = tmp_path_factory.mktemp("loaded") / "zendesk.duckdb"
    load_sandbox(sandbox, duckdb_path=path)
    build_models(create_pipeline("duckdb", "zendesk_audit", str(path)))
    return path


# ----------------------------------------------------------------------------- PostgreSQL
class FakePostgres:
    """Answers every login on a loopback port as PostgreSQL does for a wrong password.

    Protocol 3: refuse SSL and GSS encryption ('N'), read the startup message, ask for a
    cleartext password ('R' 3), then send ErrorResponse FATAL 28P01 `password authentication
    failed for user "<user>"` and close. It records the passwords it was sent.
    """

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.passwords: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                try:
                    self._login(connection)
                except (OSError, struct.error, ValueError):
                    continue

    @staticmethod
    def _read(connection: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise ValueError("closed")
            data += chunk
        return data

    def _login(self, connection: socket.socket) -> None:
        while True:
            (length,) = struct.unpack("!I", self._read(connection, 4))
            body = self._read(connection, length - 4)
            (code,) = struct.unpack("!I", body[:4])
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                connection.sendall(b"N")
                continue
            break
        fields = body[4:].split(b"\0")
        params = dict(zip(fields[0::2], fields[1::2]))
        user = params.get(b"user", b"postgres").decode()
        connection.sendall(b"R" + struct.pack("!II", 8, 3))
        kind = self._read(connection, 1)
        (length,) = struct.unpack("!I", self._read(connection, 4))
        password = self._read(connection, length - 4)
        if kind == b"p":
            self.passwords.append(password.rstrip(b"\0").decode())
        message = (
            b"SFATAL\0VFATAL\0C28P01\0M" + f'password authentication failed for user "{user}"'.encode() + b"\0\0"
        )
        connection.sendall(b"E" + struct.pack("!I", len(message) + 4) + message)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def postgres_server() -> None:
    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432: start it to run the destination error tests")


def schema_exists(name: str) -> bool:
    import psycopg2

    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from pg_namespace where nspname = %s", (name,))
        return cursor.fetchone() == (1,)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_postgresql_failures_are_one_line_naming_what_to_fix(
    command: str, sandbox: Sandbox, tmp_path: Path, postgres_server: None
) -> None:
    dataset = f"zt_{uuid.uuid4().hex[:10]}"
    refused_port = free_port()
    fake = FakePostgres()
    try:
        cases: list[tuple[str, str, int, tuple[str, ...]]] = [
            ("nothing listens", f"postgresql://postgres:{SECRET}@127.0.0.1:{refused_port}/test", 1,
             (f"PostgreSQL at 127.0.0.1:{refused_port} refused the connection", "check the host and port")),
            ("unknown database", f"postgresql://postgres:{SECRET}@127.0.0.1:5432/no_such_db_{dataset}", 1,
             ("PostgreSQL at 127.0.0.1:5432 has no database", f"no_such_db_{dataset}", "createdb")),
            ("no password in the URL", "postgresql://postgres@127.0.0.1:5432/test", 2,
             ("Missing 1 field(s)", "`credentials.password`", "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD")),
            ("wrong password", f"postgresql://postgres:{SECRET}@127.0.0.1:{fake.port}/test", 1,
             (f"PostgreSQL at 127.0.0.1:{fake.port} refused the password for user 'postgres'", "check the password")),
        ]
        for name, url, exit_code, words in cases:
            folder = tmp_path / name.replace(" ", "-")
            folder.mkdir()
            env = {**oauth_env(sandbox), "DESTINATION__POSTGRES__CREDENTIALS": url}
            done = run_cli([*COMMANDS[command], "--destination", "postgres", "--dataset", dataset], folder, env)
            one_error_line(done, exit_code, *words)
            assert not (folder / "report.html").exists() and not (folder / "evidence").exists(), name
        assert fake.passwords and set(fake.passwords) == {SECRET}  # the driver did send it: the line left it out
        assert not schema_exists(dataset)  # nothing was written anywhere
    finally:
        fake.close()


# ----------------------------------------------------------------------------- DuckDB
def _drop_file_override() -> None:
    """In the child: root's CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH out of the bounding set, so
    file modes apply to it as to any owner (prctl PR_CAPBSET_DROP; exec then keeps them out)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def as_file_owner() -> Callable[[], None] | None:
    """What makes a child process obey file modes: nothing for a normal user, dropping root's
    override for root. Skips when neither works (then chmod proves nothing here)."""
    return _drop_file_override if os.geteuid() == 0 else None


def _assert_cannot_write(path: Path, preexec: Callable[[], None] | None) -> None:
    probe = subprocess.run([sys.executable, "-c", f"open({str(path)!r}, 'ab')"], preexec_fn=preexec,
                           capture_output=True, text=True)
    if probe.returncode == 0:
        pytest.skip(f"this process can write {path} despite its mode (root without a way to drop that): "
                    "the read-only cases prove nothing here")


@pytest.fixture
def read_only_file(loaded_database: Path, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "read-only.duckdb"
    shutil.copy(loaded_database, path)
    path.chmod(0o444)
    yield path
    path.chmod(0o644)


@pytest.fixture
def read_only_folder(loaded_database: Path, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "read-only-folder"
    folder.mkdir()
    shutil.copy(loaded_database, folder / "zendesk.duckdb")
    folder.chmod(0o555)
    yield folder / "zendesk.duckdb"
    folder.chmod(0o755)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_read_only_duckdb_file_is_one_line_naming_the_file(
    command: str, sandbox: Sandbox, read_only_file: Path, tmp_path: Path
) -> None:
    preexec = as_file_owner()
    _assert_cannot_write(read_only_file, preexec)
    done = run_cli([*COMMANDS[command], "--duckdb-path", str(read_only_file)], tmp_path, oauth_env(sandbox), preexec)
    if command in ("report", "evidence"):  # readers open the file read-only: a read-only file is fine for them
        assert done.returncode == 0, done.stderr
        return
    one_error_line(done, 1, f"the DuckDB file {read_only_file} is read-only", "make it writable")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_duckdb_file_in_a_read_only_folder_fails_in_one_line_where_it_must_write(
    command: str, sandbox: Sandbox, read_only_folder: Path, tmp_path: Path
) -> None:
    preexec = as_file_owner()
    _assert_cannot_write(read_only_folder.parent / "probe", preexec)
    done = run_cli([*COMMANDS[command], "--duckdb-path", str(read_only_folder)], tmp_path, oauth_env(sandbox), preexec)
    if command in ("models build", "report", "evidence"):  # the models are current: they write nothing, no .wal
        assert done.returncode == 0, done.stderr
        return
    if command == "load":  # the write lock beside the file comes first: nothing is written (exit 2)
        one_error_line(done, 2, f"cannot create the lock file {read_only_folder}.lock", "write access to the folder")
        return
    one_error_line(done, 1, f"the folder {read_only_folder.parent} is not writable", ".wal")


@pytest.fixture
def locked_database(loaded_database: Path, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The loaded file, held open for writing by another process (as a notebook or a BI tool would)."""
    path = tmp_path / "locked.duckdb"
    shutil.copy(loaded_database, path)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
                               "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield path, holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_duckdb_file_locked_by_another_process_names_the_file_and_the_process(
    command: str, sandbox: Sandbox, locked_database: tuple[Path, int], tmp_path: Path
) -> None:
    path, pid = locked_database
    done = run_cli([*COMMANDS[command], "--duckdb-path", str(path)], tmp_path, oauth_env(sandbox))
    one_error_line(done, 1, f"{path.name} is being written by another process", f"pid {pid}", "--wait-for-lock")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_duckdb_path_that_is_a_folder_is_a_configuration_error(command: str, sandbox: Sandbox, tmp_path: Path) -> None:
    folder = tmp_path / "zendesk.duckdb"
    folder.mkdir()
    done = run_cli([*COMMANDS[command], "--duckdb-path", str(folder)], tmp_path, oauth_env(sandbox))
    one_error_line(done, 2, f"--duckdb-path {folder} is a folder, not a DuckDB file")
    assert list(folder.iterdir()) == []


def test_the_locked_file_line_comes_from_duckdbs_own_error(tmp_path: Path) -> None:
    """`locking.duckdb_busy` reads DuckDB's real wording (another process holds the file)."""
    path = tmp_path / "z.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
                                                     "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(duckdb.IOException) as caught:
            duckdb.connect(str(path))
        busy = duckdb_busy(caught.value, str(path))
        assert busy is not None and f"pid {holder.pid}" in str(busy) and "being written" in str(busy)
        assert duckdb_busy(duckdb.IOException("IO Error: something else")) is None
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


# ----------------------------------------------------------------------------- Zendesk's address
def test_a_refused_loopback_port_fails_at_once_naming_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "SOURCES__ZENDESK_AUDIT__BASE_URL": f"http://127.0.0.1:{port}",
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": "c",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": SECRET,
        "RUNTIME__LOG_LEVEL": None,
    }
    done = run_cli(["load", "--no-models", "--verbose"], tmp_path, env)
    # --verbose shows every retry: there is none, and the line is not "try again later".
    assert "retrying" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert f"nothing listens at 127.0.0.1:{port} (connection refused): check base_url" in errors[0]
    assert "later" not in errors[0] and "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_refused_remote_port_is_retried_a_few_times_then_named(tmp_path: Path) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to refuse a connection on")
    port = free_port(address)
    env = {
        "SOURCES__ZENDESK_AUDIT__BASE_URL": f"https://{address}:{port}",
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": "c",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": SECRET,
        "RUNTIME__LOG_LEVEL": None,
        "HTTPS_PROXY": None,
        "https_proxy": None,
    }
    done = run_cli(["load", "--no-models", "--verbose"], tmp_path, env)
    assert done.stderr.count("retrying") == 2, done.stderr  # 3 attempts, not 8
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert f"{address}:{port} refused the connection 3 times: nothing listens there" in errors[0]
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout


def test_a_misspelt_host_names_the_host(tmp_path: Path) -> None:
    env = {
        "SOURCES__ZENDESK_AUDIT__BASE_URL": None,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": "c",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": SECRET,
        "RUNTIME__LOG_LEVEL": None,
    }
    done = run_cli(["load", "--no-models", "--base-url", "https://acmee.zendesk.invalid", "--subdomain", "acmee"],
                   tmp_path, env)
    one_error_line(done, 1, "cannot resolve acmee.zendesk.invalid", "check the subdomain")


# ----------------------------------------------------------------------------- after the load
@pytest.fixture
def bad_seeds(tmp_path: Path) -> Path:
    """A copy of the seeds with one bad row: the models build fails before it changes anything."""
    return bad_seeds_copy(tmp_path)


def audit_log_count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        return int(connection.execute("select count(*) from zendesk_audit.audit_logs").fetchone()[0])


def test_models_failing_after_a_load_print_the_summary_then_one_line_and_exit_4(
    sandbox: Sandbox, bad_seeds: Path, tmp_path: Path
) -> None:
    env = {**oauth_env(sandbox), "MODELS__SEEDS_DIR": str(bad_seeds)}
    done = run_cli(["load"], tmp_path, env)
    one_error_line(done, 4, "models failed after the load committed its data", "business_hours.csv:2",
                   "`zendesk-audit models build`")
    assert done.stdout.startswith("loaded 300 audit log records into duckdb"), done.stdout
    assert audit_log_count(tmp_path / "zendesk.duckdb") == 300
    again = run_cli(["load", "--json"], tmp_path, env)
    one_error_line(again, 4, "models failed")
    summary = json.loads(again.stdout)
    assert summary["status"] == "models_failed" and "business_hours.csv:2" in summary["after_load_error"]
    fixed = run_cli(["models", "build"], tmp_path, {**env, "MODELS__SEEDS_DIR": None})
    assert fixed.returncode == 0 and fixed.stdout.startswith("models: "), fixed.stderr


def test_alerts_failing_after_a_load_exit_4_after_the_summary_and_the_alerts(sandbox: Sandbox, tmp_path: Path) -> None:
    webhook = f"http://127.0.0.1:{free_port()}/hooks/{SECRET}"
    # The first run records the history (nothing to deliver); a new sensitive change then fails to reach the webhook.
    first = run_cli(["load", "--alerts"], tmp_path, oauth_env(sandbox))
    assert first.returncode == 0 and "historic sensitive changes" in first.stdout, first.stderr
    sandbox.append(1, created_at=datetime.now(timezone.utc) - timedelta(hours=1), action="update",
                   source_type="account_setting", source_label="Two-factor authentication", change_description="Disabled")
    done = run_cli(["load", "--alerts", "--alerts-webhook", webhook], tmp_path, oauth_env(sandbox))
    one_error_line(done, 4, "alerts failed after the load committed its data", "webhook http://127.0.0.1:",
                   "kept for the next run")
    out = done.stdout.splitlines()
    assert out[0].startswith("loaded 1 audit log record") and out[1].startswith("models: "), done.stdout
    assert out[-1].startswith("alerts: ") and "kept for the next run" in out[-1]
    again = run_cli(["load", "--json", "--alerts", "--alerts-webhook", webhook], tmp_path, oauth_env(sandbox))
    one_error_line(again, 4, "alerts failed")
    assert json.loads(again.stdout.splitlines()[0])["status"] == "alerts_failed"


def test_models_failing_after_a_csv_import_exit_4_after_the_summary(
    sandbox: Sandbox, bad_seeds: Path, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        write_admin_center_csv(sandbox.records()[:40], handle)
    done = run_cli(["import-csv", str(path), "--subdomain", "acme"], tmp_path,
                   {"MODELS__SEEDS_DIR": str(bad_seeds), "RUNTIME__LOG_LEVEL": None})
    one_error_line(done, 4, "models failed after the import committed its data")
    assert done.stdout.startswith("imported 40 CSV rows"), done.stdout


def test_several_accounts_loaded_then_models_failing_exit_4(bad_seeds: Path, tmp_path: Path) -> None:
    with Sandbox(records=50, seed=142, subdomain="beta") as beta, Sandbox(records=50, seed=143) as acme:
        env: dict[str, str | None] = {"RUNTIME__LOG_LEVEL": None, "MODELS__SEEDS_DIR": str(bad_seeds)}
        for account in (acme, beta):
            prefix = f"SOURCES__ZENDESK_AUDIT__ACCOUNTS__{account.config.subdomain.upper()}__"
            env[prefix + "BASE_URL"] = account.base_url
            env[prefix + "CREDENTIALS__CLIENT_ID"] = account.config.client_id
            env[prefix + "CREDENTIALS__CLIENT_SECRET"] = account.config.client_secret
            env[prefix + "CREDENTIALS__SCOPE"] = "auditlogs:read read"
        done = run_cli(["load", "--subdomain", "acme", "--subdomain", "beta", "--json"], tmp_path, env)
    one_error_line(done, 4, "models failed after the load committed its data")
    summary = json.loads(done.stdout)
    assert summary["status"] == "models_failed" and summary["loaded"] == ["acme", "beta"]


def test_a_bad_row_after_committed_chunks_is_not_exit_2(tmp_path: Path) -> None:
    """Exit 2 promises nothing was written: a bad row after committed chunks is exit 1."""
    path = tmp_path / "export.csv"
    rows = "".join(f"2024-01-01 10:00:{second:02d},Ann,,x,Updated,\n" for second in range(30))
    path.write_text("Time,Actor,IP address,Item,Activity type,Activity\n" + rows + "yesterday,Bob,,x,Updated,\n")
    with pytest.raises(CsvImportStopped) as caught:
        import_csv([str(path)], subdomain="acme", duckdb_path=str(tmp_path / "z.duckdb"), chunk_rows=10)
    assert caught.value.exit_code == 1 and "30 rows before it were imported" in str(caught.value)
    assert audit_log_count(tmp_path / "z.duckdb") == 30


# ----------------------------------------------------------------------------- dlt's own log lines
ARROW_WARNING = "ArrowToInsertValuesWriter"
CURSOR_WARNING = "sharing the same value of cursor field"


def test_dlt_warnings_stay_off_the_terminal_unless_asked_for(tmp_path: Path, postgres_server: None) -> None:
    """A real PostgreSQL load of a same-second burst of 250 records (dlt warns about the cursor's
    deduplication state). The load goes through COPY, so dlt's Arrow-to-inserts warning is gone
    even when asked for."""
    burst_second = (datetime.now(timezone.utc) - timedelta(minutes=10)).replace(microsecond=0)
    datasets = [f"zt_{uuid.uuid4().hex[:10]}" for _ in range(3)]
    try:
        with Sandbox(records=100, seed=144) as sandbox:
            sandbox.append(250, created_at=burst_second)
            env = {**oauth_env(sandbox), "DESTINATION__POSTGRES__CREDENTIALS": POSTGRES_URL}
            runs = {}
            for name, dataset, extra, level in zip(
                ("default", "--verbose", "RUNTIME__LOG_LEVEL"), datasets, ([], ["--verbose"], []), (None, None, "WARNING")
            ):
                folder = tmp_path / name.strip("-")
                folder.mkdir()
                runs[name] = run_cli(["load", "--no-models", "--destination", "postgres", "--dataset", dataset, *extra],
                                     folder, {**env, "RUNTIME__LOG_LEVEL": level})
        for name, done in runs.items():
            assert done.returncode == 0 and done.stdout.startswith("loaded 350 audit log records"), (name, done.stderr)
        assert runs["default"].stderr.strip() == "", runs["default"].stderr
        for name in ("--verbose", "RUNTIME__LOG_LEVEL"):
            assert CURSOR_WARNING in runs[name].stderr, (name, runs[name].stderr)
            assert ARROW_WARNING not in runs[name].stderr, (name, runs[name].stderr)
    finally:
        import psycopg2

        with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
            for dataset in datasets:
                for schema in (dataset, f"{dataset}_staging", f"{dataset}_models"):
                    cursor.execute(f'drop schema if exists "{schema}" cascade')


def test_the_cli_leaves_logging_as_it_found_it(tmp_path: Path) -> None:
    """Library code never changes logging; the CLI's quiet filter and --verbose end with the command."""
    import logging

    from click.testing import CliRunner

    from zendesk_audit.cli.commands import cli

    library = logging.getLogger("dlt")
    before = (list(library.filters), library.level, os.environ.get("RUNTIME__LOG_LEVEL"))
    for args in (["models", "build", "--duckdb-path", str(tmp_path / "none.duckdb")],
                 ["models", "build", "--verbose", "--duckdb-path", str(tmp_path / "none.duckdb")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert (list(library.filters), library.level, os.environ.get("RUNTIME__LOG_LEVEL")) == before

