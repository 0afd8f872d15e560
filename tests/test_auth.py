"""Each auth mode loads over real HTTP; an OAuth token that expires mid-run is renewed, nothing lost."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import api_token_credentials, duckdb_ids, load_sandbox
from zendesk_audit.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidScopeError,
    PlanError,
    ScopeError,
    SubdomainError,
)
from zendesk_audit.load.api_load import load_account
from zendesk_audit.zendesk_api.client import ZendeskClient
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials
from zendesk_audit.zendesk_api.stats import RequestStats

TOKEN_PATH = "/oauth/tokens"


def test_api_token_loads_and_warns_once_with_the_dates_and_the_way_out(
    sandbox: Any, duckdb_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = {"subdomain": sandbox.config.subdomain, "base_url": sandbox.base_url, "window_records": 300,
            "credentials": api_token_credentials(sandbox)}
    with caplog.at_level(logging.WARNING, logger="zendesk_audit"):
        result = load_account(args, "duckdb", duckdb_path=str(duckdb_path), chunk_pages=4)
    assert set(duckdb_ids(duckdb_path)) == sandbox.ids()
    assert len(result.load_ids) > 1  # several chunks, each with its own source: still one warning
    warnings = [r.getMessage() for r in caplog.records if "API token" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    for words in ("from 2026-07-28 a token unused for 30 days is deactivated", "from 2026-10-27 no new token",
                  "on 2027-04-30 every token stops working",
                  "Admin Center > Apps and integrations > APIs > OAuth clients", "client-credentials grant",
                  "scope auditlogs:read", ".dlt/secrets.toml", "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID",
                  "remove email and api_token"):
        assert words in warnings[0], words


def test_an_api_token_is_refused_as_a_bearer_token(sandbox: Any, duckdb_path: Path) -> None:
    with pytest.raises(AuthenticationError, match="the access token is wrong or expired"):
        load_sandbox(sandbox, duckdb_path, credentials=ZendeskCredentials(access_token=sandbox.config.api_token))


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
    # Tokens live 61 s and we renew 60 s early: every request after the first second renews. One
    # worker, so that the load's 30 pages at 60 ms each take longer than that second.
    sandbox = sandbox_factory(records=3_000, seed=22, token_ttl_seconds=61, latency_ms=60)
    credentials = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    load_sandbox(sandbox, duckdb_path, credentials=credentials, workers=1)
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
            r"lacks the scope 'read' .* allow 'auditlogs:read' \(or 'read'\) .* \(now 'tickets:read'\)",
        ),
    ]
    for credentials, error, words in cases:
        with pytest.raises(error, match=words) as caught:
            load_sandbox(sandbox, duckdb_path, credentials=credentials)
        assert bad not in str(caught.value)


@pytest.mark.parametrize("answer", [403, 404])
def test_non_enterprise_plan_is_named_whether_zendesk_answers_403_or_404(
    sandbox_factory: Any, duckdb_path: Path, answer: int
) -> None:
    sandbox = sandbox_factory(records=10, plan="professional", non_enterprise_answer=answer)
    with pytest.raises(PlanError, match="Enterprise plan and an admin, or a custom role with the view_audit_logs"):
        load_sandbox(sandbox, duckdb_path)
    # Only the 404 needs telling apart from a wrong subdomain: one anonymous probe of /users/me.
    assert sandbox.counters()["requests"].get("/api/v2/users/me", 0) == (1 if answer == 404 else 0)


def test_a_host_without_an_account_says_check_the_subdomain(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=10, no_account=True)
    with pytest.raises(SubdomainError, match=r"404 InvalidEndpoint at /api/v2/audit_logs\): check the subdomain"):
        load_sandbox(sandbox, duckdb_path)
    assert sandbox.counters()["requests"]["/api/v2/users/me"] == 1
    oauth = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    with pytest.raises(SubdomainError, match=r"at /oauth/tokens\): check the subdomain"):
        load_sandbox(sandbox, duckdb_path, credentials=oauth)


def test_expires_in_is_asked_for_and_honoured(sandbox: Any) -> None:
    credentials = ZendeskCredentials(
        client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret, expires_in=300
    )
    client = ZendeskClient(sandbox.base_url, credentials)
    client.request_json("GET", "/api/v2/audit_logs", params={"page[size]": 1})
    # The sandbox's default token life is 1800 s: 300 s means the grant carried expires_in.
    assert 290 < client.auth._expires_at - time.monotonic() <= 300  # type: ignore[union-attr]


@pytest.mark.parametrize("expires_in", [0, 299, 172_801])
def test_expires_in_outside_zendesk_bounds_is_refused_before_any_request(
    sandbox: Any, duckdb_path: Path, expires_in: int
) -> None:
    credentials = ZendeskCredentials(
        client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret, expires_in=expires_in
    )
    with pytest.raises(ConfigurationError, match=rf"expires_in {expires_in} is outside .*300\.\.172800"):
        load_sandbox(sandbox, duckdb_path, credentials=credentials)
    assert sandbox.counters()["requests_total"] == 0 and not duckdb_path.exists()


def test_a_scope_the_client_may_not_ask_for_is_named_and_not_retried(sandbox_factory: Any, duckdb_path: Path) -> None:
    sandbox = sandbox_factory(records=10, client_scopes=("auditlogs:read",))
    secret = sandbox.config.client_secret
    credentials = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=secret, scope="auditlogs:read write")
    with pytest.raises(InvalidScopeError, match=r"refused the scope 'auditlogs:read write' \(400 invalid_scope\)") as caught:
        load_sandbox(sandbox, duckdb_path, credentials=credentials)
    assert "OAuth clients" in str(caught.value) and secret not in str(caught.value)
    sandbox.reset_counters()
    with pytest.raises(InvalidScopeError):
        ZendeskClient(sandbox.base_url, credentials).request_json("GET", "/api/v2/audit_logs")
    assert sandbox.counters()["requests"] == {"/oauth/tokens": 1}  # a refusal is final: no renewal, no retry


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
