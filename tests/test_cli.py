"""The `zendesk-audit` command: exit codes, one-line errors, summaries, and no secret anywhere."""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
from cli_forkserver import run_module
from click.testing import CliRunner

from zendesk_audit.cli.commands import cli

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str | None], preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed command in a child process: real argv, real exit code, real streams.

    A None value in `env` removes that variable from the child's environment. The child is forked
    from a process that has imported the CLI already (`cli_forkserver`: the import was 70% of a short
    load's CPU), except with a `preexec_fn` or with ZENDESK_AUDIT_TEST_FORK=0, which start
    `python -m zendesk_audit` itself.
    """
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    full_env.update({key: value for key, value in env.items() if value is not None}, DLT_DATA_DIR=str(cwd / "dlt-data"))
    for key in [key for key, value in env.items() if value is None]:
        full_env.pop(key, None)
    return run_module(args, cwd, full_env, timeout=120, preexec_fn=preexec_fn)


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
    else:  # a token the sandbox granted: like Zendesk, it never takes the API token as a Bearer token
        sandbox = sandbox_factory(records=500, seed=32)
        secret = requests.post(f"{sandbox.base_url}/oauth/tokens", json={
            "grant_type": "client_credentials", "client_id": sandbox.config.client_id,
            "client_secret": sandbox.config.client_secret, "scope": "auditlogs:read"}, timeout=10).json()["access_token"]
        env = _sandbox_env(sandbox, access_token=secret)
    done = run_cli(["load"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    _assert_secret_nowhere(secret, tmp_path, done.stdout, done.stderr)


def test_error_answers_end_in_one_line_without_secret(sandbox_factory: Any, tmp_path: Path) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    sandbox = sandbox_factory(records=50, seed=33)
    professional = sandbox_factory(records=50, seed=33, plan="professional", api_token=secret)
    professional_404 = sandbox_factory(records=50, seed=33, plan="professional", non_enterprise_answer=404,
                                       api_token=secret)
    no_account = sandbox_factory(records=50, seed=33, no_account=True, api_token=secret)
    narrow_client = sandbox_factory(records=50, seed=33, client_scopes=("auditlogs:read",), client_secret=secret)
    cases = [
        ("bad credentials", _sandbox_env(sandbox, email=sandbox.config.email, api_token=secret), "refused the credentials"),
        ("not enterprise", _sandbox_env(professional, email=professional.config.email, api_token=secret), "Enterprise"),
        (
            "not enterprise, answered 404",
            _sandbox_env(professional_404, email=professional_404.config.email, api_token=secret),
            "is a Zendesk account: audit logs need the Enterprise plan",
        ),
        (
            "no account at the host",
            _sandbox_env(no_account, email=no_account.config.email, api_token=secret),
            "check the subdomain",
        ),
        (
            "no account at the host, OAuth",
            _sandbox_env(no_account, client_id=no_account.config.client_id, client_secret=secret),
            "check the subdomain",
        ),
        (
            "scope the OAuth client may not ask for",
            _sandbox_env(narrow_client, client_id=narrow_client.config.client_id, client_secret=secret, scope="read"),
            "refused the scope 'read' (400 invalid_scope)",
        ),
        ("API token as a Bearer token", _sandbox_env(sandbox, access_token=sandbox.config.api_token),
         "refused the credentials"),
        (
            "missing scope",
            _sandbox_env(sandbox, client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret,
                         scope="tickets:read"),
            "lacks the scope",
        ),
        (
            "bad OAuth client secret",
            _sandbox_env(sandbox, client_id=sandbox.config.client_id, client_secret=secret),
            "refused the OAuth client",
        ),
        ("bad access token", _sandbox_env(sandbox, access_token=secret), "refused the credentials"),
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


GOOD_ENV = {
    "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
    "SOURCES__ZENDESK_AUDIT__BASE_URL": "http://127.0.0.1:9",
    "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": "a@b.c",
    "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": "t0ken-value",
}
CRED = "SOURCES__ZENDESK_AUDIT__CREDENTIALS__"
# (name, extra args, environment changes (None removes), .dlt/secrets.toml content or "<dir>", words in the line)
BAD_CONFIGURATIONS: list[tuple[str, list[str], dict[str, str | None], str | None, str]] = [
    ("missing subdomain", [], {"SOURCES__ZENDESK_AUDIT__SUBDOMAIN": None, "SOURCES__ZENDESK_AUDIT__BASE_URL": None},
     None, "no Zendesk account"),
    ("subdomain with a scheme", ["--subdomain", "https://acme.zendesk.com", "--base-url", ""], {}, None,
     "not a Zendesk subdomain"),
    ("subdomain with dots", ["--subdomain", "acme.zendesk.com", "--base-url", ""], {}, None, "not a Zendesk subdomain"),
    ("token and OAuth both set", [], {CRED + "ACCESS_TOKEN": "oauth-value"}, None, "more than one auth mode"),
    ("password auth", [], {CRED + "API_TOKEN": None, CRED + "PASSWORD": "pw-value"}, None, "removed e-mail and password"),
    ("no credentials", [], {CRED + "EMAIL": None, CRED + "API_TOKEN": None}, None, "no Zendesk credentials"),
    ("half an OAuth client", [], {CRED + "EMAIL": None, CRED + "API_TOKEN": None, CRED + "CLIENT_ID": "c"}, None,
     "set client_secret"),
    ("token life under 300 s", [], {CRED + "EMAIL": None, CRED + "API_TOKEN": None, CRED + "CLIENT_ID": "c",
                                    CRED + "CLIENT_SECRET": "oauth-value", CRED + "EXPIRES_IN": "299"}, None,
     "expires_in 299 is outside what Zendesk accepts (300..172800"),
    ("token life over 2 days", [], {CRED + "EMAIL": None, CRED + "API_TOKEN": None, CRED + "CLIENT_ID": "c",
                                    CRED + "CLIENT_SECRET": "oauth-value", CRED + "EXPIRES_IN": "172801"}, None,
     "expires_in 172801 is outside"),
    ("token life with an API token", [], {CRED + "EXPIRES_IN": "600"}, None,
     "expires_in is the life of a client-credentials token"),
    ("unknown destination", ["--destination", "nowhere"], {}, None, "unknown destination"),
    ("start after end", ["--start", "2024-02-01", "--end", "2024-01-01"], {}, None, "is not before end"),
    ("malformed date", ["--start", "yesterday"], {}, None, "not an ISO-8601 time"),
    ("negative lag", ["--lag-seconds", "-1"], {}, None, "must be 0 or more"),
    ("lag that is not a number", [], {"SOURCES__ZENDESK_AUDIT__LAG_SECONDS": "soon"}, None, "configuration:"),
    ("unknown action", ["--action", "explode"], {}, None, "unknown action"),
    ("source id without type", ["--source-id", "12"], {}, None, "need a source_type"),
    ("actor id not an integer", ["--actor-id", "bob"], {}, None, "not an integer"),
    ("bad IP address", ["--ip-address", "10.0.0.300"], {}, None, "not an IP address"),
    ("http to a remote host", ["--base-url", "http://example.com"], {}, None, "plain http to a remote host"),
    ("credentials in base_url", ["--base-url", "https://user:pw@acme.zendesk.com"], {}, None, "must not hold credentials"),
    ("unknown time zone", ["--time-zone", "Mars/Olympus"], {}, None, "unknown time zone 'Mars/Olympus'"),
    ("time zone DuckDB does not know", [], {"SOURCES__ZENDESK_AUDIT__TIME_ZONE": "posixrules"}, None,
     "unknown time zone 'posixrules'"),
    ("unreadable secrets file", [], {}, "<dir>", "cannot read .dlt/secrets.toml"),
    ("malformed secrets file", [], {}, '[sources.zendesk_audit]\nsubdomain = "acme\n', "secrets.toml"),
    ("start in the future", ["--start", "2030-01-01"], {}, None, "is later than now minus the lag"),
    ("start in the future from config", [], {"SOURCES__ZENDESK_AUDIT__START": "2999-01-01"}, None,
     "is later than now minus the lag"),
    # Today's midnight, with a lag of two days: later than now minus the lag.
    ("start within the lag", ["--start", f"{datetime.now(timezone.utc):%Y-%m-%d}", "--lag-seconds", "172800"], {}, None,
     "is later than now minus the lag"),
]


def _run_bad_configuration(case: tuple[str, list[str], dict[str, str | None], str | None, str], root: Path) -> str:
    """Run one case in its own folder; return a problem description, or "" when it behaved."""
    name, args, changes, secrets, words = case
    folder = root / name.replace(" ", "-")
    (folder / ".dlt").mkdir(parents=True)
    if secrets == "<dir>":
        (folder / ".dlt" / "secrets.toml").mkdir()
    elif secrets is not None:
        (folder / ".dlt" / "secrets.toml").write_text(secrets)
    env = {**GOOD_ENV, **{k: v for k, v in changes.items() if v is not None}}
    for key in [k for k, v in changes.items() if v is None]:
        env.pop(key, None)
    done = run_cli(["load", *args], folder, env)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    written = [p.name for p in folder.iterdir() if p.name not in (".dlt",)]
    if done.returncode != 2 or len(lines) != 1 or words not in lines[0] or written:
        return f"{name}: exit {done.returncode}, written {written}, stderr {done.stderr.strip()[:300]!r}"
    if any(secret in done.stderr + done.stdout for secret in ("t0ken-value", "oauth-value", "pw-value")):
        return f"{name}: a secret is in the output"
    return ""


def test_bad_configuration_table_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    assert len(BAD_CONFIGURATIONS) >= 15
    with ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(lambda case: _run_bad_configuration(case, tmp_path), BAD_CONFIGURATIONS) if p]
    assert not problems, "\n".join(problems)


def test_every_command_has_help_with_an_example_and_is_in_the_readme_and_the_docs() -> None:
    """The README lists every command at a glance; a docs page (not only the generated reference) explains it."""
    readme = README.read_text()
    guides = "\n".join(path.read_text() for path in sorted(DOCS.glob("*.md")) if path.name != "reference.md")
    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.output, name
        assert f"zendesk-audit {name}" in readme, f"`zendesk-audit {name}` is not in the README"
        assert f"zendesk-audit {name}" in guides, f"`zendesk-audit {name}` is in no page of docs/"


def test_load_with_alerts_exits_3_once_then_0(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory(records=2_000, seed=34)
    env = _sandbox_env(sandbox, client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    first = run_cli(["load", "--alerts", "--alerts-min-severity", "high", "--workers", "2",
                     "--rate-limit-share", "0.8"], tmp_path, env)
    # The first run after the backfill summarises the history instead of alerting on it (issue 27).
    assert first.returncode == 0, first.stderr
    assert "models:" in first.stdout and "historic sensitive changes at or above high" in first.stdout
    sandbox.append(1, created_at=datetime.now(timezone.utc) - timedelta(hours=1), action="update",
                   source_type="account_setting", source_label="Two-factor authentication", change_description="Disabled")
    new = run_cli(["load", "--alerts", "--alerts-min-severity", "high"], tmp_path, env)
    assert new.returncode == 3, new.stderr
    assert "CRITICAL two_factor_disabled" in new.stdout
    again = run_cli(["load", "--alerts", "--alerts-min-severity", "high"], tmp_path, env)
    assert again.returncode == 0, again.stderr
    refused = run_cli(["load", "--alerts", "--no-models"], tmp_path, env)
    assert refused.returncode == 2 and "leave out --no-models" in refused.stderr
