"""What a new user hit in their first hour (issue 27), each reproduced the way they met it: the
real command in a child process (or click's runner), real HTTP on loopback, real DuckDB.

No test here contacts anything but 127.0.0.1: the unreachable hosts are `nosuchhost.invalid`
(RFC 6761: never resolves, nothing leaves the machine) and loopback ports.
"""
from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from test_cli import run_cli

from conftest import free_port


def _serve_sandbox(*options: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`zendesk-audit sandbox` as a user starts it; its stdout lines up to the printed next step."""
    process = subprocess.Popen(
        [sys.executable, "-m", "zendesk_audit", "sandbox", "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    lines = []
    while not lines or not lines[-1].startswith("Then:"):
        line = process.stdout.readline()
        assert line, "the sandbox stopped before printing its setup"
        lines.append(line.rstrip("\n"))
    return process, lines


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _exports(lines: list[str]) -> dict[str, str]:
    """The `export NAME=value` lines, read as a shell would."""
    env = {}
    for line in lines:
        words = shlex.split(line)
        if words and words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


# ------------------------------------------------------------- 1. the sandbox's printed setup
def test_the_sandbox_printed_setup_loads_the_account_time_zone_on_the_first_load(tmp_path: Path) -> None:
    """Before: the printed exports asked for no scope that reads the account settings, so the first
    load warned `local times for acme will be in UTC` and stored time_zone_source utc_fallback."""
    process, lines = _serve_sandbox("--records", "30", "--time-zone", "America/New_York")
    try:
        env = _exports(lines)
        assert "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID" in env  # the OAuth path, as printed
        result = run_cli(["load", "--no-models", "--duckdb-path", str(tmp_path / "first.duckdb")], tmp_path, env)
    finally:
        _stop(process)
    assert result.returncode == 0, result.stderr
    assert "UTC" not in result.stderr and "WARNING" not in result.stderr
    with duckdb.connect(str(tmp_path / "first.duckdb"), read_only=True) as connection:
        row = connection.execute(
            "select iana_time_zone, time_zone_source from zendesk_audit.accounts").fetchall()
    assert row == [("America/New_York", "account_settings")]


def test_the_printed_scope_leaves_out_a_settings_scope_the_client_may_not_ask_for() -> None:
    from zendesk_sandbox.command import printed_scope
    from zendesk_sandbox.config import SandboxConfig

    assert printed_scope(SandboxConfig()) == "auditlogs:read read"
    assert printed_scope(SandboxConfig(client_scopes=("auditlogs:read",))) == "auditlogs:read"
    assert printed_scope(SandboxConfig(settings_scope="")) == "auditlogs:read"




# ------------------------------------------------------------- 4. a destination without its extra
# Simulates a missing extra: the child process marks psycopg2 as not importable (sys.modules[...] =
# None makes every `import psycopg2` raise ImportError), as on a machine where only
# `pip install zendesk-audit` ran. The real command runs after that, with real argv.
BLOCK_PSYCOPG2 = (
    "import sys; sys.modules['psycopg2'] = None; sys.argv[0] = 'zendesk-audit'; "
    "from zendesk_audit.cli.commands import main; main()"
)


def test_postgres_without_its_extra_names_the_install_command_and_exits_2(sandbox_factory, tmp_path: Path) -> None:
    """Before: exit 1, `the sync step into postgres failed: You must install additional dependencies
    to run `postgres destination`. If you use pip you may do the following:; nothing of this run ...`."""
    sandbox = sandbox_factory(records=5)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    env.update(
        DLT_DATA_DIR=str(tmp_path / "dlt"),
        SOURCES__ZENDESK_AUDIT__BASE_URL=sandbox.base_url,
        SOURCES__ZENDESK_AUDIT__SUBDOMAIN=sandbox.config.subdomain,
        SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID=sandbox.config.client_id,
        SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET=sandbox.config.client_secret,
        DESTINATION__POSTGRES__CREDENTIALS="postgresql://postgres:postgres@127.0.0.1:5432/test",
    )
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_PSYCOPG2, "load", "--destination", "postgres", "--dataset", "z_missing_extra"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: destination 'postgres' needs its driver, which is not installed: pip install 'zendesk-audit[postgres]'"
    ]
    assert result.stdout == "" and sandbox.counters()["requests_total"] == 0  # refused before any request


# ------------------------------------------------------------- 6. a DuckDB path in a missing folder
def test_a_duckdb_path_in_a_missing_folder_is_refused_and_nothing_is_created(sandbox_factory, tmp_path: Path) -> None:
    """Before: `load --duckdb-path /no/such/dir/z.duckdb` created the folders and a new empty database."""
    sandbox = sandbox_factory(records=5)
    missing = tmp_path / "no" / "such" / "dir"
    env = {"SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url, "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret}
    result = run_cli(["load", "--duckdb-path", str(missing / "z.duckdb")], tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --duckdb-path {missing / 'z.duckdb'}: the folder {missing} does not exist: check the path, "
        f"or create the folder first (mkdir -p {missing})"
    ]
    assert not (tmp_path / "no").exists()
    # A new file in a folder that exists is how a first load starts: still allowed.
    assert run_cli(["load", "--no-models", "--duckdb-path", str(tmp_path / "z.duckdb")], tmp_path, env).returncode == 0


# ------------------------------------------------------------- 3. load --json when the load fails
def test_load_json_prints_one_object_on_stdout_when_the_load_fails(sandbox_factory, tmp_path: Path) -> None:
    """Before: wrong credentials printed the error line on stderr and nothing at all on stdout."""
    sandbox = sandbox_factory(records=5)
    env = {"SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url, "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": "not-the-secret"}
    result = run_cli(["load", "--json", "--duckdb-path", str(tmp_path / "z.duckdb")], tmp_path, env)
    assert result.returncode == 1
    [error] = result.stderr.strip().splitlines()
    assert error.startswith("error: ") and "not-the-secret" not in result.stdout + result.stderr
    [line] = result.stdout.strip().splitlines()
    assert json.loads(line) == {"status": "failed", "error": error.removeprefix("error: "), "exit_code": 1,
                                "committed": "earlier chunks"}

    # A configuration error (exit 2) writes nothing, and says so.
    refused = run_cli(["load", "--json", "--duckdb-path", str(tmp_path / "missing" / "z.duckdb")], tmp_path, env)
    assert refused.returncode == 2
    body = json.loads(refused.stdout)
    assert body["status"] == "failed" and body["exit_code"] == 2 and body["committed"] == "nothing"
    assert refused.stderr.strip() == f"error: {body['error']}"


# ------------------------------------------------------------- 7. the lock file after a run
def test_after_a_run_the_lock_file_says_free_and_a_concurrent_run_is_still_excluded(sandbox_factory, tmp_path: Path) -> None:
    """Before: `zendesk.duckdb.lock` kept `zendesk-audit load, pid ..., started ...` after every run,
    as if a run were in progress."""
    from zendesk_audit.errors import LoadInProgress
    from zendesk_audit.load.pipeline import create_pipeline, write_lock

    sandbox = sandbox_factory(records=5)
    database = tmp_path / "zendesk.duckdb"
    env = {"SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url, "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret}
    done = run_cli(["load", "--no-models", "--duckdb-path", str(database)], tmp_path, env)
    assert done.returncode == 0, done.stderr
    text = Path(f"{database}.lock").read_text(encoding="utf-8")
    assert text.startswith("free: no zendesk-audit run holds this lock (the last was zendesk-audit load, pid ")
    assert "ended " in text

    # The file still excludes: held here, a second writer (another thread) fails naming the holder.
    pipeline = create_pipeline("duckdb", duckdb_path=str(database))
    outcome: list[BaseException | None] = []

    def second_writer() -> None:
        try:
            with write_lock(pipeline, keep_file_open=False):
                outcome.append(None)
        except LoadInProgress as exc:
            outcome.append(exc)


    with write_lock(pipeline, keep_file_open=False):
        assert Path(f"{database}.lock").read_text(encoding="utf-8").startswith("zendesk-audit load, pid ")
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join()
    assert isinstance(outcome[0], LoadInProgress)
    assert f"another load into this database is running (zendesk-audit load, pid {os.getpid()}," in str(outcome[0])
    assert Path(f"{database}.lock").read_text(encoding="utf-8").startswith("free: ")


# ------------------------------------------------------------- 8. a CSV separated by ; or a tab
def _imported(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(
            "select created_at, actor_name, ip_address, source_label, action_label, change_description "
            "from zendesk_audit.audit_logs order by all").fetchall()


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_csv_separated_by_semicolons_or_tabs_imports_like_the_comma_file(sandbox, tmp_path: Path, delimiter: str) -> None:
    """Before: `cannot map the column(s) 'Time;Actor;IP address;Item;Activity type;Activity'`."""
    from click.testing import CliRunner

    from zendesk_audit.cli.commands import cli
    from zendesk_audit.extract.csv_source import write_admin_center_csv

    records = sandbox.records()[:60]
    records[0] = {**records[0], "change_description": "Moved to Paris; then to Lyon, France\tagain"}
    comma = tmp_path / "comma.csv"
    with open(comma, "w", newline="", encoding="utf-8") as handle:
        write_admin_center_csv(records, handle)
    with open(comma, newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    other = tmp_path / "other.csv"
    with open(other, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    assert other.read_text(encoding="utf-8").startswith(f"Time{delimiter}Actor{delimiter}IP address")

    for path, database in ((comma, tmp_path / "comma.duckdb"), (other, tmp_path / "other.duckdb")):
        result = CliRunner().invoke(cli, ["import-csv", str(path), "--subdomain", "acme", "--no-models",
                                          "--duckdb-path", str(database)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "imported 60 CSV rows" in result.output
    imported = _imported(tmp_path / "other.duckdb")
    assert imported == _imported(tmp_path / "comma.duckdb") and len(imported) == 60
    assert ("Moved to Paris; then to Lyon, France\tagain",) in {(row[5],) for row in imported}


# ------------------------------------------------------------- 10. a sample Admin Center CSV
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "admin-center-sample.csv"


def test_the_shipped_sample_csv_is_what_the_sandbox_writes_and_imports(tmp_path: Path) -> None:
    """Before: no sample shipped, so `import-csv` could not be tried without writing a CSV by hand."""
    written = tmp_path / "sample.csv"
    result = run_cli(["sandbox", "--write-sample-csv", str(written)], tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"wrote 200 Admin Center CSV rows to {written}; try: "
                                     f"zendesk-audit import-csv {written} --subdomain acme")
    assert written.read_bytes() == SAMPLE.read_bytes()  # the shipped file is the command's output
    with open(SAMPLE, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == ["Time", "Actor", "IP address", "Item", "Activity type", "Activity"]

    database = tmp_path / "z.duckdb"
    imported = run_cli(["import-csv", str(SAMPLE), "--subdomain", "acme", "--no-models", "--duckdb-path", str(database)],
                       tmp_path, {})
    assert imported.returncode == 0, imported.stderr
    assert "imported 200 CSV rows" in imported.stdout
    with duckdb.connect(str(database), read_only=True) as connection:
        counts = connection.execute("select count(*), count(distinct id), count(action) from zendesk_audit.audit_logs "
                                    "where _source = 'csv'").fetchone()
    assert counts == (200, 200, 200)  # every Activity type of the sample maps to an action


# ------------------------------------------------------------- 9. models build --time-zone, then models status
def test_models_build_prints_versions_only_where_they_exist_and_status_after_it_is_up_to_date(
    sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `built stg_audit_logs (version None: ...)` for the 10 unversioned models, and right after
    `models build --time-zone X` every model `outdated` in `models status`, with no reason."""
    from click.testing import CliRunner

    from conftest import load_sandbox
    from zendesk_audit.cli.commands import cli
    from zendesk_audit.models.build import model_names

    database = tmp_path / "z.duckdb"
    load_sandbox(sandbox, database)
    monkeypatch.delenv("MODELS__TIME_ZONE", raising=False)

    def run(*args: str) -> list[str]:
        result = CliRunner().invoke(cli, [*args, "--duckdb-path", str(database)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    built = run("models", "build", "--time-zone", "America/New_York")
    assert not any("None" in line for line in built)
    assert "  built stg_audit_logs (new)" in built and "  built sensitive_changes (version 1: new)" in built
    assert len([line for line in built if line.startswith("  built ")]) == len(model_names())

    def states(lines: list[str]) -> dict[str, str]:
        names = set(model_names())
        return {line.split()[0]: line for line in lines if line.split() and line.split()[0] in names}

    status = run("models", "status")
    assert all("up to date" in line for line in states(status).values()), status
    assert ("built with --time-zone America/New_York: the next build without it (as after each `zendesk-audit load`) "
            "rebuilds them in each account's zone; set models.time_zone to keep it") in status

    # A configured zone that differs from the build's: outdated, and the line says why.
    monkeypatch.setenv("MODELS__TIME_ZONE", "Asia/Tokyo")
    changed = states(run("models", "status"))
    assert changed["stg_audit_logs"].endswith("(time zone: America/New_York -> Asia/Tokyo)")
    assert all(" outdated " in line and line.endswith(")") for line in changed.values()), changed
    monkeypatch.delenv("MODELS__TIME_ZONE")

    rebuilt = run("models", "build")
    assert "  built stg_audit_logs (time zone: America/New_York -> each account's zone)" in rebuilt
    status = run("models", "status")
    assert all("up to date" in line for line in states(status).values()) and not any("--time-zone" in line for line in status)


# ------------------------------------------------------------- 5. an unreachable https:// host
# Only loopback is ever contacted: `nosuchhost.invalid` never resolves (RFC 6761) and the proxy
# variables are cleared, so no request can leave the machine through a proxy either.
NO_PROXY_ENV = {"HTTPS_PROXY": None, "https_proxy": None, "HTTP_PROXY": None, "http_proxy": None,
                "ALL_PROXY": None, "all_proxy": None, "NO_PROXY": "*", "no_proxy": "*"}


def _unreachable_load(base_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"SOURCES__ZENDESK_AUDIT__BASE_URL": base_url, "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": "client",
           "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": "secret", **NO_PROXY_ENV}
    return run_cli(["load", "--duckdb-path", str(tmp_path / "z.duckdb")], tmp_path, env)


def test_a_name_that_does_not_resolve_fails_at_once_in_one_line(tmp_path: Path) -> None:
    """Before: 47 s of silence, then `SSLError after 8 attempts: try again later`."""
    result = _unreachable_load("https://nosuchhost.invalid", tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: cannot resolve nosuchhost.invalid: check the subdomain (the part before .zendesk.com) or base_url"
    ]  # no retry line: a name that does not resolve is not retried


def test_a_loopback_port_nothing_listens_on_fails_at_once_naming_it(tmp_path: Path) -> None:
    port = free_port()
    result = _unreachable_load(f"https://127.0.0.1:{port}", tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: nothing listens at 127.0.0.1:{port} (connection refused): check base_url, or start the sandbox "
        "(zendesk-audit sandbox) or the tunnel that should answer there"
    ]


def test_a_server_that_does_not_speak_tls_is_named_at_each_retry_then_in_one_line(tmp_path: Path) -> None:
    """A plain socket server on loopback that answers an HTTPS client with plain bytes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port = server.getsockname()[1]
    stop = threading.Event()

    def answer_in_plain_text() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnot tls")

    thread = threading.Thread(target=answer_in_plain_text, daemon=True)
    thread.start()
    try:
        result = _unreachable_load(f"https://127.0.0.1:{port}", tmp_path)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    cause = (f"TLS handshake with 127.0.0.1:{port} failed (WRONG_VERSION_NUMBER: the answer is not TLS, plain http "
             "on this port?)")
    assert len(lines) == 3, lines
    for attempt, line in zip((2, 3), lines[:2]):
        assert line.startswith(f"WARNING: {cause}; retrying /oauth/tokens in ")
        assert line.endswith(f" s (attempt {attempt} of 3)")
    assert lines[2] == (
        f"error: TLS handshake with 127.0.0.1:{port} failed 3 times (WRONG_VERSION_NUMBER: the answer is not TLS, "
        "plain http on this port?): what answers there does not speak HTTPS; check base_url (https:// or http://, "
        "the port) and any proxy in between"
    )
