"""Secrets, even malformed: a pasted value's stray whitespace is stripped, a value with a line
break inside is refused without being shown, and the pipeline folder (state, packages, and
dlt's trace.pickle, which keeps each failed step's exception) is readable by its owner only.

Every run is the installed command in a child process, against the sandbox over real HTTP.
"""
from __future__ import annotations

import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from test_cli import _assert_secret_nowhere, _sandbox_env, run_cli


def _pasted(sandbox: Any, mode: str, secret: str) -> dict[str, str]:
    """Credentials as they arrive from a careless copy-paste: whitespace around every value."""
    if mode == "access_token":
        return _sandbox_env(sandbox, access_token=secret + "\n")
    if mode == "api_token":
        return _sandbox_env(sandbox, email=" " + sandbox.config.email + "\n", api_token=secret + " \n")
    return _sandbox_env(sandbox, client_id=sandbox.config.client_id + "\t", client_secret="  " + secret + "\r\n")


@pytest.mark.parametrize("mode", ["access_token", "api_token", "client_credentials"])
def test_a_secret_pasted_with_whitespace_around_it_loads_and_appears_nowhere(
    sandbox_factory: Any, tmp_path: Path, mode: str
) -> None:
    secret = f"sec-{uuid.uuid4().hex}"
    if mode == "client_credentials":
        sandbox = sandbox_factory(records=300, seed=81, client_secret=secret)
    elif mode == "api_token":
        sandbox = sandbox_factory(records=300, seed=81, api_token=secret)
    else:  # a token the sandbox granted: like Zendesk, it never takes the API token as a Bearer token
        sandbox = sandbox_factory(records=300, seed=81)
        secret = requests.post(f"{sandbox.base_url}/oauth/tokens", json={
            "grant_type": "client_credentials", "client_id": sandbox.config.client_id,
            "client_secret": sandbox.config.client_secret, "scope": "auditlogs:read"}, timeout=10).json()["access_token"]
    done = run_cli(["load", "--no-models"], tmp_path, _pasted(sandbox, mode, secret))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("loaded 300 audit log records")
    assert "Traceback" not in done.stderr
    _assert_secret_nowhere(secret, tmp_path, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("key", "value"),
    [("access_token", "sec-{}\nrest"), ("api_token", "sec-{}\trest"), ("client_secret", "sec-{}\x07rest"),
     ("access_token", "sec-{}\u2019rest")],
)
def test_a_secret_with_a_control_character_inside_is_refused_in_one_line_that_does_not_show_it(
    sandbox: Any, tmp_path: Path, key: str, value: str
) -> None:
    secret = value.format(uuid.uuid4().hex)
    env = _sandbox_env(sandbox, **{key: secret})
    if key == "api_token":
        env["SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL"] = sandbox.config.email
    if key == "client_secret":
        env["SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID"] = sandbox.config.client_id
    done = run_cli(["load"], tmp_path, env)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"error: credentials: {key} holds a space, tab, line break or non-ASCII character inside it "
                     "(the value is not shown): copy it again exactly as Zendesk shows it"], done.stderr
    assert secret[:36] not in done.stderr + done.stdout  # sec- and 32 hex digits
    assert not (tmp_path / "dlt-data").exists() and not (tmp_path / "zendesk.duckdb").exists()
    assert sandbox.counters()["requests_total"] == 0


def _loose_modes(folder: Path) -> list[str]:
    """Every folder or file under `folder` that its group or other users may read or enter."""
    return [
        f"{oct(stat.S_IMODE(path.lstat().st_mode))} {path.relative_to(folder)}"
        for path in [folder, *folder.rglob("*")]
        if not path.is_symlink() and path.lstat().st_mode & 0o077
    ]


def test_the_pipeline_folder_is_owner_only_after_a_load_and_after_a_failed_one(sandbox: Any, tmp_path: Path) -> None:
    good = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    done = run_cli(["load", "--no-models"], tmp_path, good)
    assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / "dlt-data" / "pipelines").glob("zendesk_audit_duckdb_*")
    assert list(folder.rglob("trace.pickle")) and list(folder.rglob("state.json"))
    assert _loose_modes(folder) == []

    refused = run_cli(["load", "--no-models"], tmp_path, _sandbox_env(sandbox, access_token="not-the-token"))
    assert refused.returncode == 1 and "refused the credentials" in refused.stderr
    assert _loose_modes(folder) == []


def test_the_pipeline_folder_is_owner_only_after_a_csv_import(sandbox: Any, tmp_path: Path) -> None:
    from test_csv_import import UI_COLUMNS, ui_rows, write_csv

    export = write_csv(tmp_path / "export.csv", UI_COLUMNS, ui_rows(sandbox.records()[:50]))
    done = run_cli(["import-csv", str(export), "--subdomain", "acme", "--no-models"], tmp_path, {})
    assert done.returncode == 0, done.stderr
    traces = list((tmp_path / "dlt-data").rglob("trace.pickle"))
    assert traces, "the import leaves dlt's trace behind"
    for trace in traces:
        assert _loose_modes(trace.parents[0]) == []
