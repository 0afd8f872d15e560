"""The time zone of local times: configured, the account settings', or UTC with the reason, never silently.

Every load goes through the sandbox over real HTTP; the sandbox refuses the account settings to an
OAuth token without the scope `read` (its `settings_scope`), or to everyone (`settings_forbidden`).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
import requests
from click.testing import CliRunner
from test_cli import _sandbox_env, run_cli

from conftest import configure_accounts, load_sandbox, postgres_rows
from zendesk_audit.audit.alerts import run_alerts
from zendesk_audit.audit.period import Period
from zendesk_audit.audit.report import write_report
from zendesk_audit.cli.commands import cli
from zendesk_audit.errors import ConfigurationError
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models, model_time_zones
from zendesk_audit.models.warehouse import open_engine
from zendesk_audit.time_zones import (
    NO_ACCOUNT_ROW,
    check_time_zone,
    from_settings,
    known_time_zones,
    time_zone_problem,
)
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials

SETTINGS = "/api/v2/account/settings"
FIX_BY_CONFIG = "zendesk-audit load --time-zone"


def accounts_rows(path: Path, dataset: str = "zendesk_audit") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(
            f"select subdomain, time_zone, iana_time_zone, time_zone_source, time_zone_reason from {dataset}.accounts "
            "order by subdomain"
        ).fetchall()


def staged_zones(path: Path, dataset: str = "zendesk_audit") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(
            f"select distinct subdomain, time_zone, time_zone_source from {dataset}_models.stg_audit_logs order by 1"
        ).fetchall()


def oauth_token(sandbox: Any, scope: str) -> str:
    answer = requests.post(f"{sandbox.base_url}/oauth/tokens", json={
        "grant_type": "client_credentials", "client_id": sandbox.config.client_id,
        "client_secret": sandbox.config.client_secret, "scope": scope})
    return str(answer.json()["access_token"])


# ----------------------------------------------------------------------------- the load, end to end
def test_an_oauth_client_without_the_settings_scope_gets_utc_that_every_output_names_with_its_fixes(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(records=1_500, seed=51)
    env = _sandbox_env(sandbox, client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    done = run_cli(["load"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "local times for acme" in line]
    assert len(warnings) == 1, done.stderr
    for words in ("will be in UTC", "lacks the scope 'read'", "OAuth client the scope 'read'", FIX_BY_CONFIG,
                  "SOURCES__ZENDESK_AUDIT__TIME_ZONE"):
        assert words in warnings[0], words
    assert "local times in UTC (utc_fallback): Zendesk refused" in done.stdout
    database = tmp_path / "zendesk.duckdb"
    [(subdomain, zendesk_name, zone, source, reason)] = accounts_rows(database)
    assert (subdomain, zendesk_name, zone, source) == ("acme", None, "UTC", "utc_fallback")
    assert "lacks the scope 'read'" in reason and FIX_BY_CONFIG in reason
    assert staged_zones(database) == [("acme", "UTC", "utc_fallback")]

    status = run_cli(["models", "status"], tmp_path, env)
    assert status.returncode == 0, status.stderr
    assert "  acme: local times in UTC (utc_fallback): Zendesk refused" in status.stdout
    alerts = run_cli(["alerts", "--history"], tmp_path, env)
    assert alerts.returncode == 3, alerts.stderr
    assert "local times: acme UTC (utc_fallback)" in alerts.stdout.splitlines()[-1]
    assert "warning: local times for acme are in UTC, not the account's time zone: Zendesk refused" in alerts.stderr
    assert FIX_BY_CONFIG in alerts.stderr
    report = run_cli(["report", "--out", "report.html"], tmp_path, env)
    assert report.returncode == 0, report.stderr
    assert "local times in UTC (utc_fallback)" in report.stdout
    html = (tmp_path / "report.html").read_text()
    assert 'class="notice">Local times for acme are in UTC' in html and "lacks the scope &#x27;read&#x27;" in html

    # Configured: used as it is, the settings not even asked for, and every output says so.
    sandbox.reset_counters()
    configured = run_cli(["load", "--time-zone", "America/New_York"], tmp_path, env)
    assert configured.returncode == 0, configured.stderr
    assert SETTINGS not in sandbox.counters()["requests"]
    assert "local times for acme" not in configured.stderr
    assert "local times in America/New_York (configured)" in configured.stdout
    assert accounts_rows(database) == [("acme", None, "America/New_York", "configured", None)]
    assert staged_zones(database) == [("acme", "America/New_York", "configured")]
    status = run_cli(["models", "status"], tmp_path, env)
    assert "  acme: local times in America/New_York (configured)\n" in status.stdout
    with duckdb.connect(str(database), read_only=True) as connection:
        off_hours = connection.execute(
            "select distinct time_zone, time_zone_source from zendesk_audit_models.off_hours_changes"
        ).fetchall()
    assert off_hours == [("America/New_York", "configured")]


@pytest.mark.parametrize(
    "mode,sandbox_args,expected,not_expected",
    [
        ("api_token", {"settings_forbidden": True}, ["API-token user (403)", "API token of an admin"], ["scope", "OAuth"]),
        ("client_credentials", {}, ["OAuth token lacks the scope 'read'", "allow the OAuth client the scope 'read'"],
         ["API token"]),
        ("access_token", {}, ["access token lacks the scope 'read'", "access token granted the scope 'read'"],
         ["API token", "OAuth client"]),
        ("client_credentials", {"settings_forbidden": True}, ["authorize the OAuth client as an admin"],
         ["API token", "scope"]),
    ],
    ids=["api-token-not-admin", "oauth-client-narrow-scope", "access-token-narrow-scope", "oauth-client-not-admin"],
)
def test_the_fallback_reason_names_the_fix_for_the_credential_in_use(
    sandbox_factory: Any, duckdb_path: Path, mode: str, sandbox_args: dict[str, Any], expected: list[str],
    not_expected: list[str],
) -> None:
    sandbox = sandbox_factory(records=200, seed=52, **sandbox_args)
    credentials = {
        "api_token": ZendeskCredentials(email=sandbox.config.email, api_token=sandbox.config.api_token),
        "client_credentials": ZendeskCredentials(client_id=sandbox.config.client_id,
                                                 client_secret=sandbox.config.client_secret),
        "access_token": ZendeskCredentials(access_token=oauth_token(sandbox, "auditlogs:read")),
    }[mode]
    result = load_sandbox(sandbox, duckdb_path, credentials=credentials)
    assert result.records_loaded == 200  # the audit log itself loads
    assert (result.time_zone, result.time_zone_source) == ("UTC", "utc_fallback")
    reason = result.time_zone_reason or ""
    for words in [*expected, FIX_BY_CONFIG]:
        assert words in reason, (words, reason)
    for words in not_expected:
        assert words not in reason.replace("SOURCES__ZENDESK_AUDIT__TIME_ZONE", ""), (words, reason)
    assert accounts_rows(duckdb_path) == [("acme", None, "UTC", "utc_fallback", reason)]


def test_the_account_settings_zone_is_used_when_readable_and_nothing_is_configured(
    sandbox_factory: Any, duckdb_path: Path
) -> None:
    sandbox = sandbox_factory(records=200, seed=53, time_zone="Tokyo", iana_time_zone="Asia/Tokyo")
    wide = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret,
                              scope="auditlogs:read read")
    result = load_sandbox(sandbox, duckdb_path, credentials=wide)
    assert (result.time_zone, result.time_zone_source, result.time_zone_reason) == ("Asia/Tokyo", "account_settings", None)
    assert "local times in Asia/Tokyo (account_settings)" in result.summary_line()
    assert accounts_rows(duckdb_path) == [("acme", "Tokyo", "Asia/Tokyo", "account_settings", None)]


def test_the_command_line_zone_wins_over_the_environment_which_wins_over_the_settings(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_factory(records=100, seed=54)
    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    env = _sandbox_env(sandbox, email=sandbox.config.email, api_token=sandbox.config.api_token)
    env["SOURCES__ZENDESK_AUDIT__TIME_ZONE"] = "America/Chicago"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    database = tmp_path / "z.duckdb"
    runner = CliRunner()
    from_env = runner.invoke(cli, ["load", "--duckdb-path", str(database), "--no-models"], catch_exceptions=False)
    assert from_env.exit_code == 0, from_env.output
    assert accounts_rows(database)[0][2:4] == ("America/Chicago", "configured")
    from_option = runner.invoke(cli, ["load", "--duckdb-path", str(database), "--time-zone", "Asia/Kolkata"],
                                catch_exceptions=False)
    assert from_option.exit_code == 0, from_option.output
    assert accounts_rows(database)[0][2:4] == ("Asia/Kolkata", "configured")
    monkeypatch.delenv("SOURCES__ZENDESK_AUDIT__TIME_ZONE")
    from_settings_again = runner.invoke(cli, ["load", "--duckdb-path", str(database)], catch_exceptions=False)
    assert from_settings_again.exit_code == 0
    assert accounts_rows(database)[0][1:4] == ("Paris", "Europe/Paris", "account_settings")
    assert staged_zones(database) == [("acme", "Europe/Paris", "account_settings")]


# ----------------------------------------------------------------------------- several accounts
def test_each_account_has_its_own_zone_and_the_option_sets_all(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = sandbox_factory(subdomain="acme", records=150, seed=55)
    beta = sandbox_factory(subdomain="beta", records=120, seed=56)
    configure_accounts(monkeypatch, tmp_path, acme, beta)
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__ACCOUNTS__ACME__TIME_ZONE", "Asia/Tokyo")
    database = tmp_path / "z.duckdb"
    args = ["load", "--subdomain", "acme", "--subdomain", "beta", "--duckdb-path", str(database)]
    first = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    rows = {row[0]: row[2:4] for row in accounts_rows(database)}
    assert rows == {"acme": ("Asia/Tokyo", "configured"), "beta": ("UTC", "utc_fallback")}
    assert "acme: loaded" in first.output and "local times in Asia/Tokyo (configured)" in first.output
    assert "local times in UTC (utc_fallback)" in first.output
    assert staged_zones(database) == [("acme", "Asia/Tokyo", "configured"), ("beta", "UTC", "utc_fallback")]
    every = CliRunner().invoke(cli, [*args, "--time-zone", "Europe/Berlin"], catch_exceptions=False)
    assert every.exit_code == 0, every.output
    assert {row[0]: row[2:4] for row in accounts_rows(database)} == {
        "acme": ("Europe/Berlin", "configured"), "beta": ("Europe/Berlin", "configured")}


def test_a_bad_zone_for_one_of_several_accounts_exits_2_before_anything_is_written(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = sandbox_factory(subdomain="acme", records=50, seed=57)
    beta = sandbox_factory(subdomain="beta", records=50, seed=58)
    configure_accounts(monkeypatch, tmp_path, acme, beta, oauth=False)
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__ACCOUNTS__BETA__TIME_ZONE", "Mars/Olympus")
    database = tmp_path / "z.duckdb"
    result = CliRunner().invoke(cli, ["load", "--subdomain", "acme", "--subdomain", "beta", "--duckdb-path",
                                      str(database)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: unknown time zone 'Mars/Olympus' in time_zone for beta (Python's zoneinfo does not know it): "
        "use an IANA name such as Europe/Paris or America/New_York"
    ]
    assert not database.exists()
    assert acme.counters()["requests_total"] == 0 and beta.counters()["requests_total"] == 0


# ----------------------------------------------------------------------------- names the databases do not know
def test_a_zone_from_the_api_that_duckdb_does_not_know_falls_back_to_utc_and_nothing_crashes(
    sandbox_factory: Any, duckdb_path: Path, tmp_path: Path
) -> None:
    # Python's zoneinfo loads posixrules (the sandbox's office hours follow it); DuckDB refuses it.
    sandbox = sandbox_factory(records=1_000, seed=59, time_zone="posixrules", iana_time_zone="posixrules")
    result = load_sandbox(sandbox, duckdb_path)
    assert (result.time_zone, result.time_zone_source) == ("UTC", "utc_fallback")
    assert "the account settings name the time zone 'posixrules' and DuckDB does not know it" in result.time_zone_reason
    assert FIX_BY_CONFIG in result.time_zone_reason
    pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(duckdb_path))
    build_models(pipeline)
    [zone] = model_time_zones(pipeline)
    assert (zone.time_zone, zone.time_zone_source, zone.time_zone_reason) == ("UTC", "utc_fallback", result.time_zone_reason)
    alerts = run_alerts(pipeline, history=True)
    assert alerts.new and {alert.time_zone for alert in alerts.new} == {"UTC"}
    assert alerts.warning_lines() == [
        f"local times for acme are in UTC, not the account's time zone: {result.time_zone_reason}"
    ]
    report = write_report(pipeline, tmp_path / "report.html", Period())
    assert report.section_rows["headline"] == 1_000 and report.time_zones == [zone]


@pytest.mark.parametrize("name", ["Mars/Olympus", "posixrules", "localtime", "Europe/Nowhere", "../etc/passwd", ""])
def test_a_zone_any_of_python_or_duckdb_refuses_is_not_used(name: str) -> None:
    if name:
        assert time_zone_problem(name) is not None
    choice = from_settings({"localization": {"time_zone": "Mars", "iana_time_zone": name}})
    assert (choice.time_zone, choice.source, choice.zendesk_name) == ("UTC", "utc_fallback", "Mars")
    assert FIX_BY_CONFIG in (choice.reason or "")
    if name:
        with pytest.raises(ConfigurationError, match=re.escape(f"unknown time zone {name!r}")):
            check_time_zone(name, "--time-zone")
    else:
        assert check_time_zone(name, "--time-zone") is None  # empty means "not configured"


def test_a_configured_zone_in_the_wrong_case_is_refused_with_the_right_spelling() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'Europe/Paris'"):
        check_time_zone("europe/paris", "--time-zone")
    assert check_time_zone(" Europe/Paris ", "--time-zone") == "Europe/Paris"


def test_models_build_refuses_a_zone_duckdb_does_not_know(sandbox: Any, duckdb_path: Path) -> None:
    load_sandbox(sandbox, duckdb_path)
    result = CliRunner().invoke(cli, ["models", "build", "--duckdb-path", str(duckdb_path), "--time-zone", "posixrules"])
    assert result.exit_code == 2
    assert result.output.startswith("error: unknown time zone 'posixrules' in --time-zone (DuckDB does not know it)")


# ----------------------------------------------------------------------------- models and older datasets
def test_the_models_override_is_reported_as_configured_for_every_account(sandbox: Any, duckdb_path: Path) -> None:
    load_sandbox(sandbox, duckdb_path)
    pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(duckdb_path))
    build_models(pipeline)
    assert [(zone.time_zone, zone.time_zone_source) for zone in model_time_zones(pipeline)] == [
        ("Europe/Paris", "account_settings")]
    result = build_models(pipeline, time_zone="Asia/Tokyo")
    assert result.time_zone == "Asia/Tokyo"
    assert [(zone.time_zone, zone.time_zone_source) for zone in model_time_zones(pipeline)] == [("Asia/Tokyo", "configured")]


def test_accounts_rows_from_older_versions_or_no_accounts_table_still_build(sandbox: Any, duckdb_path: Path) -> None:
    load_sandbox(sandbox, duckdb_path)
    pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(duckdb_path))
    with duckdb.connect(str(duckdb_path)) as connection:
        connection.execute("alter table zendesk_audit.accounts drop column time_zone_source")
        connection.execute("alter table zendesk_audit.accounts drop column time_zone_reason")
    build_models(pipeline)
    assert staged_zones(duckdb_path) == [("acme", "Europe/Paris", "account_settings")]
    with open_engine(pipeline) as engine:
        engine.execute("drop table zendesk_audit.accounts")
    build_models(pipeline)
    [zone] = model_time_zones(pipeline)
    assert (zone.time_zone, zone.time_zone_source, zone.time_zone_reason) == ("UTC", "utc_fallback", NO_ACCOUNT_ROW)


# ----------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_postgres_uses_the_configured_zone_and_knows_every_zone_we_accept(sandbox_factory: Any, postgres: str) -> None:
    sandbox = sandbox_factory(records=800, seed=60)
    narrow = ZendeskCredentials(client_id=sandbox.config.client_id, client_secret=sandbox.config.client_secret)
    result = load_sandbox(sandbox, destination="postgres", dataset=postgres, credentials=narrow,
                          time_zone="America/New_York")
    assert (result.time_zone, result.time_zone_source) == ("America/New_York", "configured")
    pipeline = create_pipeline("postgres", postgres)
    build_models(pipeline)
    assert postgres_rows(postgres, "select iana_time_zone, time_zone_source from {dataset}.accounts") == [
        ("America/New_York", "configured")]
    rows = postgres_rows(
        postgres, "select id, created_at, created_at_local, time_zone, time_zone_source from {dataset}_models.stg_audit_logs"
    )
    assert len(rows) == 800
    zone = ZoneInfo("America/New_York")
    for _, created_at, created_at_local, time_zone, source in rows:
        assert (time_zone, source) == ("America/New_York", "configured")
        assert created_at_local == created_at.astimezone(zone).replace(tzinfo=None)
    assert [(z.time_zone, z.time_zone_source) for z in model_time_zones(pipeline)] == [("America/New_York", "configured")]
    postgres_names = {row[0] for row in postgres_rows(postgres, "select name from pg_timezone_names")}
    accepted = known_time_zones()
    assert len(accepted) > 400 and accepted <= postgres_names, sorted(accepted - postgres_names)[:10]
