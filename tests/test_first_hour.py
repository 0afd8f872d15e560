"""What a new user hit in their first hour (issue 27), each reproduced the way they met it: the
real command in a child process (or click's runner), real HTTP on loopback, real DuckDB.

No test here contacts anything but 127.0.0.1: the unreachable hosts are `nosuchhost.invalid`
(RFC 6761: never resolves, nothing leaves the machine) and loopback ports.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
from test_cli import run_cli


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


