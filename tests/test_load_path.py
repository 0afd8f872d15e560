"""One load path for the API load and the CSV import (`load_runner`): the same signal handling, the
same pending-package rule, the same after-load step, one JSON shape for `load`.

Real processes, real HTTP (the sandbox), a real DuckDB file.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from cli_forkserver import run_module

from conftest import api_token_credentials, bad_seeds_copy, duckdb_ids
from zendesk_audit.errors import EXIT_AFTER_LOAD, AfterLoadError
from zendesk_audit.load.accounts import load_all
from zendesk_audit.load.pipeline import current_cursor, open_database
from zendesk_audit.load.runner import LoadOptions
from zendesk_sandbox import Sandbox

CSV_ROWS = 250_000


def _env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    env.pop("RUNTIME__LOG_LEVEL", None)
    env.update(DLT_DATA_DIR=str(workdir / "dlt"), **(extra or {}))
    return env


def _sandbox_env(workdir: Path, sandbox: Sandbox, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `zendesk-audit` process that loads `sandbox` with OAuth client credentials."""
    return _env(workdir, {
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__SCOPE": "auditlogs:read read",
        **(extra or {}),
    })


def _write_csv(path: Path, rows: int) -> None:
    """An Admin Center export of `rows` distinct rows, one a second."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("Time,Actor,IP address,Item,Activity type,Activity\n")
        for number in range(rows):
            moment = (start + timedelta(seconds=number)).strftime("%Y-%m-%d %H:%M:%S UTC")
            handle.write(f"{moment},Agent {number % 97},10.0.0.{number % 250},Trigger: rule {number},Updated,"
                         f"Changed condition {number}\n")


def _import(workdir: Path, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zendesk_audit", "import-csv", str(path), "--subdomain", "acme", "--no-models"],
        cwd=workdir, env=_env(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def _csv_rows(workdir: Path) -> int:
    with duckdb.connect(str(workdir / "zendesk.duckdb"), read_only=True) as con:
        return int(con.sql("select count(*) from zendesk_audit.audit_logs where _source = 'csv'").fetchone()[0])


def test_sigterm_during_a_csv_import_stops_in_one_line_and_the_next_import_completes(tmp_path: Path) -> None:
    """The CSV import runs through the same runner as the API load: SIGTERM ends it in one line
    with exit 1, the chunk in flight uncommitted; the next import commits every row once."""
    path = tmp_path / "audit-log.csv"
    _write_csv(path, CSV_ROWS)
    child = _import(tmp_path, path)
    # Under way: the state folder exists once the pipeline is created, well before 250,000 rows are in.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None and not (tmp_path / "dlt").exists():
        time.sleep(0.05)
    time.sleep(1.5)
    assert child.poll() is None, "the import ended before the signal: make the file larger"
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert child.returncode == 1, (child.returncode, stdout, stderr)
    assert len(lines) == 1 and lines[0].startswith("error: stopped by signal 15"), stderr
    assert "Traceback" not in stderr

    again = _import(tmp_path, path)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert _csv_rows(tmp_path) == CSV_ROWS


def test_load_json_has_the_same_keys_for_one_account_as_for_several(tmp_path: Path) -> None:
    """Scripts read `status`, `accounts`, `loaded`, `failed` whatever the number of accounts; one
    account's fields stay at the top level too."""
    with Sandbox(records=120, seed=171) as sandbox:
        env = _sandbox_env(tmp_path, sandbox)
        done = subprocess.run([sys.executable, "-m", "zendesk_audit", "load", "--json", "--no-models"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "ok" and summary["records_loaded"] == 120
    assert summary["loaded"] == [sandbox.config.subdomain] and summary["failed"] == []
    assert [account["subdomain"] for account in summary["accounts"]] == [sandbox.config.subdomain]
    assert summary["accounts"][0]["records_loaded"] == 120
    assert {"models", "models_error", "after_load_error"} <= set(summary)


# ------------------------------------------------------------------ a models failure after the commit
def _account_env(sandbox: Sandbox) -> dict[str, str]:
    prefix = f"SOURCES__ZENDESK_AUDIT__ACCOUNTS__{sandbox.config.subdomain.upper()}__"
    return {
        prefix + "BASE_URL": sandbox.base_url,
        prefix + "CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
        prefix + "CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret,
        prefix + "CREDENTIALS__SCOPE": "auditlogs:read read",
    }


def _cli(workdir: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module(args, workdir, env, timeout=300)


def _only_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return lines[0]


def _counts_and_cursors(workdir: Path, env: dict[str, str], subdomains: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Rows per account in the database, and each account's cursor as `status` reads it from there."""
    with duckdb.connect(str(workdir / "zendesk.duckdb"), read_only=True) as con:
        counts = dict(con.sql("select subdomain, count(*) from zendesk_audit.audit_logs group by 1").fetchall())
    status = _cli(workdir, ["status", "--json", *[arg for s in subdomains for arg in ("--subdomain", s)]], env)
    assert status.returncode == 0, status.stderr
    cursors = {item["subdomain"]: item["cursor"] for item in map(json.loads, status.stdout.splitlines())}
    return counts, cursors


def test_a_models_failure_after_one_accounts_load_prints_the_summary_then_one_line_exit_4(tmp_path: Path) -> None:
    """The data is committed and the cursor moved: the summary first (stdout), then the one error
    line (stderr), exit 4; the next load finds nothing new and adds nothing twice."""
    with Sandbox(records=90, seed=181) as sandbox:
        env = _sandbox_env(tmp_path, sandbox, {"MODELS__SEEDS_DIR": str(bad_seeds_copy(tmp_path))})
        done = _cli(tmp_path, ["load"], env)
        assert done.returncode == 4, (done.stdout, done.stderr)
        assert done.stdout.startswith("loaded 90 audit log records"), done.stdout
        error = _only_error_line(done)
        assert "models failed after the load committed its data" in error and "business_hours.csv:2" in error
        counts, cursors = _counts_and_cursors(tmp_path, env, [sandbox.config.subdomain])
        assert counts == {sandbox.config.subdomain: 90}
        assert cursors == {sandbox.config.subdomain: max(record["created_at"] for record in sandbox.records())}

        again = _cli(tmp_path, ["load", "--json"], env)
    assert again.returncode == 4, again.stderr
    summary = json.loads(again.stdout)
    assert summary["status"] == "models_failed" and summary["records_loaded"] == 0
    assert "business_hours.csv:2" in summary["models_error"] and summary["loaded"] == [sandbox.config.subdomain]
    _only_error_line(again)
    assert _counts_and_cursors(tmp_path, env, [sandbox.config.subdomain])[0] == {sandbox.config.subdomain: 90}


def test_a_models_failure_after_several_accounts_load_prints_the_summary_then_one_line_exit_4(tmp_path: Path) -> None:
    """As for one account: every account's rows and cursor committed, the summary, one line, exit 4."""
    with Sandbox(records=60, seed=182) as acme, Sandbox(records=40, seed=183, subdomain="beta") as beta:
        env = _env(tmp_path, {**_account_env(acme), **_account_env(beta), "MODELS__SEEDS_DIR": str(bad_seeds_copy(tmp_path))})
        done = _cli(tmp_path, ["load", "--subdomain", "acme", "--subdomain", "beta"], env)
        assert done.returncode == 4, (done.stdout, done.stderr)
        out = done.stdout.splitlines()
        assert out[-1].startswith("2 accounts: 2 loaded (acme, beta)"), done.stdout
        error = _only_error_line(done)
        assert "models failed after the load committed its data" in error and "business_hours.csv:2" in error
        counts, cursors = _counts_and_cursors(tmp_path, env, ["acme", "beta"])
        assert counts == {"acme": 60, "beta": 40}
        assert cursors == {sandbox.config.subdomain: max(record["created_at"] for record in sandbox.records())
                           for sandbox in (acme, beta)}


def test_a_models_failure_after_a_committed_load_keeps_the_rows_and_the_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The after-load step (`load.runner.build_models_after`) fails after the commit: the library
    says so (exit 4 for the CLI), and the rows and the cursor stay; the next load adds nothing twice."""
    monkeypatch.setenv("MODELS__SEEDS_DIR", str(bad_seeds_copy(tmp_path)))
    database = tmp_path / "zendesk.duckdb"
    options = LoadOptions(duckdb_path=str(database), build_models=True)
    with Sandbox(records=150, seed=172) as sandbox:
        args = {"base_url": sandbox.base_url, "credentials": api_token_credentials(sandbox)}
        outcome = load_all([sandbox.config.subdomain], args, options)
        assert isinstance(outcome.failure, AfterLoadError) and outcome.failure.step == "models"
        assert outcome.failure.exit_code == outcome.exit_code == EXIT_AFTER_LOAD
        assert outcome.as_dict()["status"] == "models_failed" and outcome.as_dict()["records_loaded"] == 150
        assert "business_hours.csv:2" in outcome.as_dict()["models_error"]
        assert sorted(duckdb_ids(database)) == sorted(sandbox.ids())
        with open_database("duckdb", "zendesk_audit", str(database)) as pipeline:
            assert current_cursor(pipeline) is not None
        again = load_all([sandbox.config.subdomain], args, replace(options, build_models=False))
    assert again.failure is None and again.as_dict()["records_loaded"] == 0
    assert len(duckdb_ids(database)) == 150


def test_the_models_after_a_load_are_built_in_a_process_of_their_own(tmp_path: Path) -> None:
    """`load` builds the models in a fresh process (`models.build_process`), so the loader's memory and
    dbt's are never held at once: the loader's process never imports dbt, and its result, its `--json`
    and its views are what a build in one process gave (the models' seconds within the `models` phase)."""
    script = (
        "import sys\n"
        "from zendesk_audit.cli import main\n"
        "try:\n"
        "    main(['load', '--json'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print('dbt imported here:', any(n == 'dbt' or n.startswith('dbt.') for n in sys.modules), 'exit', code,"
        " file=sys.stderr)\n"
    )
    with Sandbox(records=120, seed=191) as sandbox:
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_sandbox_env(tmp_path, sandbox),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert "dbt imported here: False exit 0" in done.stderr, (done.stdout, done.stderr)
    summary = json.loads(done.stdout)
    assert summary["status"] == "ok" and summary["records_loaded"] == 120
    assert summary["models"]["built"] and not summary["models"]["dbt_skipped"]
    assert 0 < summary["models"]["seconds"] <= summary["phases"]["models"]
    with duckdb.connect(str(tmp_path / "zendesk.duckdb"), read_only=True) as connection:
        assert connection.sql("select count(*) from zendesk_audit_models.stg_audit_logs").fetchone() == (120,)
