"""Several accounts in one `zendesk-audit load`: one dataset, separate state, one failure spares the rest."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from zendesk_audit.cli.commands import cli
from zendesk_audit.load.accounts import account_credentials, choose_accounts, pipeline_name_for
from zendesk_audit.load.pipeline import create_pipeline, current_cursor


def account_env(sandbox: Any, api_token: str | None = None) -> dict[str, str]:
    prefix = f"SOURCES__ZENDESK_AUDIT__ACCOUNTS__{sandbox.config.subdomain.upper()}__"
    return {
        prefix + "BASE_URL": sandbox.base_url,
        prefix + "CREDENTIALS__EMAIL": sandbox.config.email,
        prefix + "CREDENTIALS__API_TOKEN": api_token or sandbox.config.api_token,
    }


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture
def two_accounts(sandbox_factory: Any) -> tuple[Any, Any]:
    return sandbox_factory(subdomain="acme", records=600), sandbox_factory(subdomain="beta", seed=2, records=400)


def counts_by_account(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return dict(connection.execute("select subdomain, count(*) from zendesk_audit.audit_logs group by 1").fetchall())


def test_two_accounts_load_into_one_dataset_with_separate_state(
    two_accounts: tuple[Any, Any], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    acme, beta = two_accounts
    for key, value in {**account_env(acme), **account_env(beta)}.items():
        clean_env.setenv(key, value)
    database = tmp_path / "z.duckdb"
    args = ["load", "--subdomain", "acme", "--subdomain", "beta", "--duckdb-path", str(database), "--lag-seconds", "0"]
    first = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "2 accounts: 2 loaded (acme, beta)" in first.stdout and "models:" in first.stdout
    assert counts_by_account(database) == {"acme": 600, "beta": 400}

    cursors = {}
    for sandbox in (acme, beta):
        name = pipeline_name_for(sandbox.config.subdomain)
        pipeline = create_pipeline("duckdb", "zendesk_audit", str(database), pipeline_name=name)
        cursors[sandbox.config.subdomain] = current_cursor(pipeline)
        assert cursors[sandbox.config.subdomain] == max(record["created_at"] for record in sandbox.records())
    assert cursors["acme"] != cursors["beta"]
    assert current_cursor(create_pipeline("duckdb", "zendesk_audit", str(database))) is None  # the single-account name

    # New records in one account only: the next run fetches from each account's own cursor.
    beta.append(5)
    second = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    summary = json.loads(second.stdout)
    assert second.exit_code == 0 and summary["failed"] == []
    assert {item["subdomain"]: item["records_loaded"] for item in summary["accounts"]} == {"acme": 0, "beta": 5}
    assert counts_by_account(database) == {"acme": 600, "beta": 405}
    with duckdb.connect(str(database), read_only=True) as connection:
        names = {row[0] for row in connection.execute("select pipeline_name from zendesk_audit._dlt_pipeline_state").fetchall()}
    pipelines = {item["subdomain"]: item["pipeline_name"] for item in summary["accounts"]}
    assert pipelines["acme"].startswith("zendesk_audit_acme_duckdb_zendesk_audit_")
    assert pipelines["beta"].startswith("zendesk_audit_beta_duckdb_zendesk_audit_")
    assert set(pipelines.values()) <= names


def test_one_account_failing_leaves_the_other_loaded(
    two_accounts: tuple[Any, Any], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    acme, beta = two_accounts
    for key, value in {**account_env(acme), **account_env(beta, api_token="wrong-token")}.items():
        clean_env.setenv(key, value)
    clean_env.setenv("SOURCES__ZENDESK_AUDIT__SUBDOMAINS", '["beta", "acme"]')  # the config list, failing one first
    database = tmp_path / "z.duckdb"
    result = CliRunner().invoke(cli, ["load", "--duckdb-path", str(database), "--no-models"], catch_exceptions=False)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: beta: failed:") and "refused the credentials" in errors[0]
    assert "2 accounts: 1 loaded (acme), 1 failed (beta)" in result.stdout
    assert "wrong-token" not in result.output
    assert counts_by_account(database) == {"acme": 600}


def test_a_shared_base_url_is_refused_with_several_accounts(
    two_accounts: tuple[Any, Any], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    acme, beta = two_accounts
    args = ["load", "--subdomain", "acme", "--subdomain", "beta", "--base-url", acme.base_url,
            "--duckdb-path", str(tmp_path / "z.duckdb")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "base_url applies to one account" in result.output
    assert not (tmp_path / "z.duckdb").exists()


def test_one_subdomain_keeps_the_single_account_pipeline(sandbox: Any, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL", sandbox.config.email)
    clean_env.setenv("SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN", sandbox.config.api_token)
    database = tmp_path / "z.duckdb"
    args = ["load", "--subdomain", "acme", "--base-url", sandbox.base_url, "--duckdb-path", str(database), "--no-models"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert current_cursor(create_pipeline("duckdb", "zendesk_audit", str(database))) is not None
    assert current_cursor(create_pipeline("duckdb", "zendesk_audit", str(database), pipeline_name="zendesk_audit_acme")) is None


def test_account_credentials_are_taken_whole_never_mixed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN", "shared-token")
    clean_env.setenv("SOURCES__ZENDESK_AUDIT__ACCOUNTS__BETA__CREDENTIALS__EMAIL", "beta@example.com")
    beta = account_credentials("beta")
    assert beta is not None and beta.email == "beta@example.com" and beta.api_token is None
    assert account_credentials("gamma") is None
    assert choose_accounts(["Acme", "beta", "acme"]) == ["acme", "beta"]
    assert choose_accounts(["acme"]) == ["acme"]


def test_an_accounts_token_life_is_checked_like_the_shared_one(clean_env: pytest.MonkeyPatch) -> None:
    from zendesk_audit.errors import ConfigurationError

    prefix = "SOURCES__ZENDESK_AUDIT__ACCOUNTS__BETA__CREDENTIALS__"
    clean_env.setenv(prefix + "CLIENT_ID", "beta-client")
    clean_env.setenv(prefix + "CLIENT_SECRET", "beta-secret")
    clean_env.setenv(prefix + "EXPIRES_IN", "600")
    beta = account_credentials("beta")
    assert beta is not None and beta.auth_mode() == "client_credentials" and beta.token_seconds() == 600
    for value, words in (("120", "expires_in 120 is outside"), ("soon", "not a number of seconds")):
        clean_env.setenv(prefix + "EXPIRES_IN", value)
        with pytest.raises(ConfigurationError, match=words):
            account_credentials("beta").auth_mode()  # type: ignore[union-attr]
