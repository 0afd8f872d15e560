"""The `zendesk-audit` command: exit codes, one-line errors, summaries, and no secret anywhere."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from zendesk_audit.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed command in a child process: real argv, real exit code, real streams."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    full_env.update(env, DLT_DATA_DIR=str(cwd / "dlt-data"))
    return subprocess.run(
        [sys.executable, "-m", "zendesk_audit", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )


def _sandbox_env(sandbox: Any, **credentials: str) -> dict[str, str]:
    env = {
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
    }
    env.update({f"SOURCES__ZENDESK_AUDIT__CREDENTIALS__{k.upper()}": v for k, v in credentials.items()})
    return env


def _assert_secret_nowhere(secret: str, folder: Path, *outputs: str) -> None:
    for output in outputs:
        assert secret not in output
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret found in {path}"
    for database in folder.glob("*.duckdb"):
        with duckdb.connect(str(database), read_only=True) as connection:
            columns = connection.execute(
                "select table_schema, table_name, column_name from information_schema.columns "
                "where data_type = 'VARCHAR'"
            ).fetchall()
            for schema, table, column in columns:
                hits = connection.execute(
                    f'select count(*) from "{schema}"."{table}" where "{column}" like ?', [f"%{secret}%"]
                ).fetchone()
                assert hits == (0,), f"secret found in {schema}.{table}.{column}"


def test_load_from_env_prints_one_summary_and_json(sandbox_factory: Any, tmp_path: Path) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    sandbox = sandbox_factory(records=1_500, seed=31, api_token=secret)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=secret)
    done = run_cli(["load"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("loaded 1,500 audit log records into duckdb")
    assert "2027-04-30" in done.stderr and "Traceback" not in done.stderr
    again = run_cli(["load", "--json"], tmp_path, env)
    summary = json.loads(again.stdout)
    assert summary["status"] == "ok" and summary["records_loaded"] == 0 and summary["list_requests"] <= 2
    assert (tmp_path / "zendesk.duckdb").exists()
    _assert_secret_nowhere(secret, tmp_path, done.stdout, done.stderr, again.stdout, again.stderr)


@pytest.mark.parametrize("mode", ["client_credentials", "access_token"])
def test_oauth_secrets_appear_nowhere(sandbox_factory: Any, tmp_path: Path, mode: str) -> None:
    secret = f"sec-{uuid.uuid4().hex}"
    if mode == "client_credentials":
        sandbox = sandbox_factory(records=500, seed=32, client_secret=secret)
        env = _sandbox_env(sandbox, client_id=sandbox.config.client_id, client_secret=secret)
    else:
        sandbox = sandbox_factory(records=500, seed=32, api_token=secret)  # the sandbox takes it as a static Bearer
        env = _sandbox_env(sandbox, access_token=secret)
    done = run_cli(["load"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    _assert_secret_nowhere(secret, tmp_path, done.stdout, done.stderr)


def test_error_answers_end_in_one_line_without_secret(sandbox_factory: Any, tmp_path: Path) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    sandbox = sandbox_factory(records=50, seed=33)
    professional = sandbox_factory(records=50, seed=33, plan="professional", api_token=secret)
    cases = [
        ("bad credentials", _sandbox_env(sandbox, email=sandbox.config.email, api_token=secret), "refused the credentials"),
        ("not enterprise", _sandbox_env(professional, email=professional.config.email, api_token=secret), "Enterprise"),
        (
            "missing scope",
            _sandbox_env(sandbox, client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret,
                         scope="tickets:read"),
            "lacks the scope",
        ),
        (
            "wrong endpoint",
            {**_sandbox_env(sandbox, email=sandbox.config.email, api_token=secret),
             "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url + "/not-zendesk"},
            "InvalidEndpoint",
        ),
        (
            "unknown subdomain",
            {"SOURCES__ZENDESK_AUDIT__BASE_URL": "https://no-such-account.invalid",
             "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "no-such-account",
             "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": "a@b.c",
             "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": secret},
            "cannot resolve",
        ),
    ]
    for name, env, words in cases:
        done = run_cli(["load"], tmp_path, env)
        assert done.returncode == 1, (name, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and words in lines[0], (name, done.stderr)
        assert "Traceback" not in done.stderr, name
        _assert_secret_nowhere(secret, tmp_path, done.stdout, done.stderr)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--lag-seconds", "-1"], "must be 0 or more"),
        (["--start", "yesterday"], "not an ISO-8601 time"),
        (["--start", "2024-02-01", "--end", "2024-01-01"], "is not before end"),
        (["--subdomain", "https://acme.zendesk.com", "--base-url", ""], "not a Zendesk subdomain"),
        (["--base-url", "http://example.com"], "plain http to a remote host"),
        (["--action", "explode"], "unknown action"),
        (["--source-id", "12"], "need a source_type"),
        (["--actor-id", "bob"], "not an integer"),
        (["--ip-address", "10.0.0.300"], "not an IP address"),
        (["--destination", "nowhere"], "unknown destination"),
    ],
)
def test_invalid_options_exit_2_with_one_line(
    args: list[str], words: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__SUBDOMAIN", "acme")
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL", "a@b.c")
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN", "t")
    result = CliRunner().invoke(cli, ["load", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output and result.output.count("error:") == 1
    assert not list(tmp_path.glob("*.duckdb"))


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = README.read_text()
    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output, name
        assert f"zendesk-audit {name}" in readme, f"`zendesk-audit {name}` is not in the README"
