"""`zendesk-audit export-request`: the POST with the load's filters, and Zendesk's one-per-minute limit."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zendesk_audit.cli.commands import cli
from zendesk_audit.errors import ExportRateLimited
from zendesk_audit.extract.export_request import export_retry_seconds, request_export


def _env(sandbox: Any) -> dict[str, str]:
    return {
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": sandbox.config.email,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": sandbox.config.api_token,
    }


@pytest.fixture
def configured(sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The sandbox as the connector's config, from environment variables (as a scheduler would set them)."""
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    for key, value in _env(sandbox).items():
        monkeypatch.setenv(key, value)
    return sandbox


def test_the_request_carries_the_filters_and_the_second_one_says_when_to_retry(configured: Any) -> None:
    first = CliRunner().invoke(
        cli, ["export-request", "--start", "2026-01-01", "--end", "2026-02-01", "--action", "update",
              "--source-type", "rule", "--json"],
        catch_exceptions=False,
    )
    assert first.exit_code == 0, first.output
    answer = json.loads(first.stdout)
    assert answer["filters"] == {
        "filter[created_at][]": ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"],
        "filter[action][]": ["update"],
        "filter[source_type][]": ["rule"],
    }
    assert answer["next_export_in"] == 60
    counters = configured.counters()
    assert counters["exports"] == 1 and counters["requests"] == {"/api/v2/audit_logs/export": 1}

    second = CliRunner().invoke(cli, ["export-request"])
    assert second.exit_code == 1
    lines = [line for line in second.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "one audit-log export per minute" in lines[0] and "retry after" in lines[0]
    assert "--wait" in lines[0]
    # Answered once, not retried in a loop: the 429 goes to the caller, not to the retry machinery.
    assert configured.counters()["requests"] == {"/api/v2/audit_logs/export": 2}


def test_wait_sleeps_until_the_window_reopens(configured: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sandbox's export window is Zendesk's 60 s; a 1 s window keeps the test fast.
    monkeypatch.setattr("zendesk_sandbox.state.EXPORT_WINDOW_SECONDS", 1.0)
    request_export()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        import time

        time.sleep(seconds)

    result = request_export(wait=True, sleep=sleep)
    assert slept and 1 <= slept[0] <= 2 and result.waited_seconds >= 1
    assert configured.counters()["exports"] == 2
    with pytest.raises(ExportRateLimited):
        request_export(wait=True, max_wait=0.1, sleep=sleep)


def test_bad_filters_and_credentials_are_one_line(configured: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_filter = CliRunner().invoke(cli, ["export-request", "--action", "explode"])
    assert bad_filter.exit_code == 2 and "unknown action" in bad_filter.output
    assert configured.counters()["requests_total"] == 0
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN", "wrong-token")
    refused = CliRunner().invoke(cli, ["export-request"])
    assert refused.exit_code == 1 and "refused the credentials" in refused.output
    assert "wrong-token" not in refused.output


def test_the_retry_time_comes_from_the_export_header_then_retry_after() -> None:
    assert export_retry_seconds({"Zendesk-RateLimit-audit-logs-export": "total=1; remaining=0; resets=37"}) == 37
    assert export_retry_seconds({"Retry-After": "12.5"}) == 12.5
    assert export_retry_seconds({}) == 60


def _use_oauth_client(sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scope: str | None = None) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    prefix = "SOURCES__ZENDESK_AUDIT__"
    monkeypatch.setenv(prefix + "SUBDOMAIN", sandbox.config.subdomain)
    monkeypatch.setenv(prefix + "BASE_URL", sandbox.base_url)
    monkeypatch.setenv(prefix + "CREDENTIALS__CLIENT_ID", sandbox.config.client_id)
    monkeypatch.setenv(prefix + "CREDENTIALS__CLIENT_SECRET", sandbox.config.client_secret)
    if scope is not None:
        monkeypatch.setenv(prefix + "CREDENTIALS__SCOPE", scope)


@pytest.mark.parametrize("export_scope", ["auditlogs:read", "write"])
def test_the_scope_the_export_asks_for_is_named_with_the_fix(
    sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, export_scope: str
) -> None:
    # Zendesk does not document which scope the export needs: the sandbox answers either way.
    sandbox = sandbox_factory(records=10, export_scope=export_scope)
    _use_oauth_client(sandbox, monkeypatch, tmp_path)
    done = CliRunner().invoke(cli, ["export-request"])
    if export_scope == "auditlogs:read":
        assert done.exit_code == 0, done.output
        assert sandbox.counters()["exports"] == 1
        return
    assert done.exit_code == 1
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.output, done.output
    assert "lacks the scope 'write' that Zendesk asks for at /api/v2/audit_logs/export (403)" in lines[0]
    assert "OAuth clients and add it to scope (now 'auditlogs:read')" in lines[0]
    assert sandbox.config.client_secret not in done.output
    # Following the line's advice works.
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__CREDENTIALS__SCOPE", "auditlogs:read write")
    assert CliRunner().invoke(cli, ["export-request"]).exit_code == 0
    assert sandbox.counters()["exports"] == 1


@pytest.mark.parametrize("answer", [403, 404])
def test_a_non_enterprise_account_is_named_by_the_export_too(
    sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, answer: int
) -> None:
    sandbox = sandbox_factory(records=10, plan="professional", non_enterprise_answer=answer)
    _use_oauth_client(sandbox, monkeypatch, tmp_path)
    done = CliRunner().invoke(cli, ["export-request"])
    assert done.exit_code == 1 and done.output.count("\n") == 1, done.output
    assert "audit logs need the Enterprise plan" in done.output and "subdomain" not in done.output
