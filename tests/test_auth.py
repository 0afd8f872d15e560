"""Each auth mode loads over real HTTP; an OAuth token that expires mid-run is renewed, nothing lost."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import duckdb_ids, load_sandbox
from zendesk_audit.client import RequestStats
from zendesk_audit.credentials import ZendeskCredentials
from zendesk_audit.errors import AuthenticationError, ConfigurationError, PlanError, ScopeError

TOKEN_PATH = "/oauth/tokens"


def test_api_token_loads_and_warns_once_about_the_sunset(
    sandbox: Any, duckdb_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="zendesk_audit"):
        load_sandbox(sandbox, duckdb_path)
    assert set(duckdb_ids(duckdb_path)) == sandbox.ids()
    warnings = [r.getMessage() for r in caplog.records if "2027-04-30" in r.getMessage()]
    assert len(warnings) == 1 and "OAuth" in warnings[0]


def test_oauth_access_token_loads(sandbox: Any, duckdb_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    grant = requests.post(
        f"{sandbox.base_url}{TOKEN_PATH}",
        json={
            "grant_type": "client_credentials",
            "client_id": sandbox.config.client_id,
            "client_secret": sandbox.config.client_secret,
            "scope": "auditlogs:read",
        },
        timeout=10,
    ).json()
    with caplog.at_level(logging.WARNING, logger="zendesk_audit"):
        load_sandbox(sandbox, duckdb_path, credentials=ZendeskCredentials(access_token=grant["access_token"]))
    assert set(duckdb_ids(duckdb_path)) == sandbox.ids()
    assert not [r for r in caplog.records if "2027-04-30" in r.getMessage()]


def test_client_credentials_load(sandbox: Any, duckdb_path: Path) -> None:
    credentials = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    load_sandbox(sandbox, duckdb_path, credentials=credentials)
    assert set(duckdb_ids(duckdb_path)) == sandbox.ids()
    assert sandbox.counters()["requests"][TOKEN_PATH] == 1


def test_token_revoked_mid_run_is_renewed_once_and_nothing_is_lost(
    sandbox_factory: Any, duckdb_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_factory(records=3_000, seed=21)

    def expire_on_pages_5_and_20(stats: RequestStats) -> None:
        if stats.pages in (5, 20):
            sandbox.expire_tokens()

    monkeypatch.setattr(RequestStats, "changed", expire_on_pages_5_and_20)
    credentials = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    load_sandbox(sandbox, duckdb_path, credentials=credentials)
    ids = duckdb_ids(duckdb_path)
    assert len(ids) == len(set(ids)) and set(ids) == sandbox.ids()
    assert sandbox.counters()["requests"][TOKEN_PATH] == 3


def test_token_is_renewed_before_it_expires(sandbox_factory: Any, duckdb_path: Path) -> None:
    # Tokens live 61 s and we renew 60 s early: every request after the first second renews.
    sandbox = sandbox_factory(records=2_000, seed=22, token_ttl_seconds=61, latency_ms=60)
    credentials = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    load_sandbox(sandbox, duckdb_path, credentials=credentials)
    assert set(duckdb_ids(duckdb_path)) == sandbox.ids()
    assert sandbox.counters()["requests"][TOKEN_PATH] >= 2


def test_wrong_credentials_give_one_clear_error(sandbox: Any, duckdb_path: Path) -> None:
    bad = "b4d-s3cr3t-value"
    cases = [
        (ZendeskCredentials(email=sandbox.config.email, api_token=bad), AuthenticationError, "email and api_token"),
        (ZendeskCredentials(access_token=bad), AuthenticationError, "access token"),
        (ZendeskCredentials(client_id="nope", client_secret=bad), AuthenticationError, "client_id and client_secret"),
        (
            ZendeskCredentials(
                client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret, scope="tickets:read"
            ),
            ScopeError,
            "auditlogs:read",
        ),
    ]
    for credentials, error, words in cases:
        with pytest.raises(error, match=words) as caught:
            load_sandbox(sandbox, duckdb_path, credentials=credentials)
        assert bad not in str(caught.value)


def test_non_enterprise_plan_is_named(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=10, plan="professional")
    with pytest.raises(PlanError, match="Enterprise"):
        load_sandbox(sandbox, duckdb_path)


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"email": "a@b.c", "password": "pw"}, "removed e-mail and password"),
        ({}, "no Zendesk credentials"),
        ({"email": "a@b.c", "api_token": "t", "access_token": "o"}, "more than one auth mode"),
        ({"email": "a@b.c"}, "set api_token"),
        ({"client_id": "c"}, "set client_secret"),
    ],
)
def test_credential_configs_that_cannot_work(fields: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        ZendeskCredentials(**fields).auth_mode()
