"""`zendesk-audit alerts`: each sensitive change reported once, a failed webhook retried next run."""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import duckdb
import pytest
from click.testing import CliRunner

from conftest import free_port, load_sandbox
from zendesk_audit.audit import alerts
from zendesk_audit.audit.alerts import ledger_rows, run_alerts
from zendesk_audit.cli.evidence import alerts_command
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models

RECORDS = 2_000


# ----------------------------------------------------------------------------- helpers
class Webhook:
    """A receiver on 127.0.0.1 that answers `status` (with `location`, if given) and keeps every JSON body it got."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.bodies.append({"status": hook.status, **json.loads(body)})
                self.send_response(hook.status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/secret-token"

    def accepted_keys(self) -> list[str]:
        return [alert["key"] for body in self.bodies if body["status"] < 300 for alert in body["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Any]:
    made: list[Webhook] = []

    def start(status: int = 200, location: str | None = None) -> Webhook:
        made.append(Webhook(status, location))
        return made[-1]

    yield start
    for hook in made:
        hook.close()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts, "WEBHOOK_BACKOFF_SECONDS", 0.01)


def refused_url() -> str:
    """A loopback port with nothing listening: connection refused."""
    return f"http://127.0.0.1:{free_port()}/hook"


def load_and_build(sandbox: Any, path: Path, **source_args: Any) -> None:
    load_sandbox(sandbox, path, lag_seconds=0, **source_args)
    build_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))


def sensitive_keys(path: Path, min_rank: int = 1) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select subdomain, audit_log_id, rule_id from zendesk_audit_models.sensitive_changes where severity_rank >= ?",
            [min_rank],
        ).fetchall()
    return {f"{subdomain}/{audit_log_id}/{rule_id}" for subdomain, audit_log_id, rule_id in rows}


def cli(*args: str) -> Any:
    group = click.Group("zendesk-audit")
    group.add_command(alerts_command)
    return CliRunner().invoke(group, ["alerts", *args], catch_exceptions=False)


def json_run(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("--format", "json", "--duckdb-path", str(path), *args)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def loaded(sandbox_factory: Any, tmp_path: Path) -> tuple[Any, Path]:
    sandbox = sandbox_factory(records=RECORDS, seed=3)
    path = tmp_path / "zendesk.duckdb"
    load_and_build(sandbox, path)
    return sandbox, path


# ----------------------------------------------------------------------------- tests
def test_never_reported_twice_and_never_skipped_across_runs(loaded: tuple[Any, Path]) -> None:
    sandbox, path = loaded
    everything = sensitive_keys(path)
    assert len(everything) > 20

    first = cli("--history", "--duckdb-path", str(path))  # the past alerted too (not summarised)
    assert first.exit_code == 3, first.output
    lines = first.stdout.strip().splitlines()
    assert len(lines) == len(everything) + 1
    assert lines[-1].startswith(f"alerts: {len(everything)} new at or above low")

    again = cli("--since-last", "--duckdb-path", str(path))
    assert again.exit_code == 0 and again.stdout.strip() == "alerts: none new at or above low"

    # Someone disables 2FA at 03:00 Paris time; a role change to admin arrives late with an old
    # created_at (before the cursor: only a re-scan loads it). Both are reported, once.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    three_am = (now - timedelta(days=1)).replace(hour=2, minute=0, second=0)  # 03:00 CET
    sandbox.append(1, created_at=three_am, id=6_199_000_000_100, action="update", source_type="account_setting",
                   source_label="Two-factor authentication", change_description="Disabled",
                   actor_id=3_800_000_000_001, actor_name="Night Owl")
    old = datetime(2026, 2, 3, 12, 0, tzinfo=timezone.utc)
    sandbox.append(1, created_at=old, late=True, id=6_199_000_000_101, action="update", source_type="user",
                   source_label="Mallory", change_description="Role changed from Agent to Administrator")
    load_and_build(sandbox, path)
    load_and_build(sandbox, path, start="2026-02-03T00:00:00Z", end="2026-02-04T00:00:00Z")
    # The role change fires the critical admin grant and the low "any role change" rule.
    assert sensitive_keys(path) - everything == {"acme/6199000000100/two_factor_disabled",
                                                  "acme/6199000000101/role_changed_to_admin",
                                                  "acme/6199000000101/role_changed"}

    code, body = json_run(path)
    assert code == 3
    assert [alert["key"] for alert in body["alerts"]] == ["acme/6199000000101/role_changed",
                                                          "acme/6199000000101/role_changed_to_admin",
                                                          "acme/6199000000100/two_factor_disabled"]
    night = body["alerts"][2]
    assert night["severity"] == "critical" and night["created_at_local"].startswith(f"{three_am:%Y-%m-%d}T03:00")
    code, body = json_run(path)
    assert code == 0 and body["alerts"] == []

    ledger = ledger_rows(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))
    keys = [f"{row['subdomain']}/{row['audit_log_id']}/{row['rule_id']}" for row in ledger]
    assert len(keys) == len(set(keys)) == len(everything) + 3
    assert {row["status"] for row in ledger} == {"reported"}


def test_the_first_run_summarises_the_history_and_alerts_only_what_is_new(loaded: tuple[Any, Path]) -> None:
    """Issue 27: the first `alerts` after a backfill printed 1,635 lines, every historic sensitive
    change as if it were new. Now: one line per account, then only what arrives from then on."""
    sandbox, path = loaded
    everything = sensitive_keys(path)
    with duckdb.connect(str(path), read_only=True) as connection:
        latest = connection.execute("select max(created_at) from zendesk_audit_models.sensitive_changes "
                                    "where severity_rank >= 1").fetchone()[0]
    first = cli("--duckdb-path", str(path))
    assert first.exit_code == 0, first.output
    [history, summary] = first.stdout.strip().splitlines()
    assert history.startswith(f"acme: {len(everything):,} historic sensitive changes at or above low up to "
                              f"{latest.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ} (")
    assert history.endswith(", not alerted: this is the first alerts run for acme, only changes from now on are "
                            "alerted; see them with `zendesk-audit alerts --history` (add --webhook URL to send them) "
                            "or in `zendesk-audit report`")
    assert summary == "alerts: none new at or above low"
    ledger = ledger_rows(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))
    assert {row["status"] for row in ledger} == {"historic"}

    # Later runs: no summary again, and a new change (even one with an old created_at) is alerted.
    assert cli("--duckdb-path", str(path)).stdout.strip() == "alerts: none new at or above low"
    sandbox.append(1, created_at=datetime.now(timezone.utc) - timedelta(hours=1), id=6_199_000_000_400, action="update",
                   source_type="account_setting", source_label="Two-factor authentication", change_description="Disabled")
    load_and_build(sandbox, path)
    code, body = json_run(path)
    assert code == 3 and [alert["key"] for alert in body["alerts"]] == ["acme/6199000000400/two_factor_disabled"]
    assert body["history_not_alerted"] == [] and body["historic"] == 0

    # --history: the past, once, marked as such; then nothing.
    code, body = json_run(path, "--history", "--min-severity", "critical")
    critical = sensitive_keys(path, min_rank=4) - {"acme/6199000000400/two_factor_disabled"}
    assert code == 3 and {alert["key"] for alert in body["alerts"]} == critical
    assert all(alert["historic"] for alert in body["alerts"]) and body["new"] == 0
    text = cli("--history", "--duckdb-path", str(path))
    lines = text.stdout.strip().splitlines()
    assert text.exit_code == 3 and len(lines) == len(everything) - len(critical) + 1
    assert all(line.endswith("[history]") for line in lines[:-1])
    assert lines[-1] == f"alerts: 0 new at or above low, {len(everything) - len(critical)} from the history; " \
        "local times: acme Europe/Paris (account_settings)"
    assert cli("--history", "--duckdb-path", str(path)).exit_code == 0
    statuses = {row["status"] for row in ledger_rows(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))}
    assert statuses == {"reported"}


def test_min_severity_and_window(loaded: tuple[Any, Path]) -> None:
    _, path = loaded
    critical = sensitive_keys(path, min_rank=4)
    code, body = json_run(path, "--min-severity", "critical", "--history")
    assert code == 3 and {alert["key"] for alert in body["alerts"]} == critical
    assert {alert["severity"] for alert in body["alerts"]} == {"critical"}

    # A window reports only its rows; the rest wait for a --since-last run, none is lost.
    code, body = json_run(path, "--from", "2026-05-01", "--to", "2026-07-01")
    window = {alert["key"] for alert in body["alerts"]}
    assert code == 3 and window and not window & critical
    assert all("2026-05-01" <= alert["created_at"] < "2026-07-01" for alert in body["alerts"])
    code, body = json_run(path, "--since-last")
    assert {alert["key"] for alert in body["alerts"]} == sensitive_keys(path) - critical - window
    assert json_run(path)[0] == 0


def test_a_failed_webhook_is_retried_on_the_next_run(loaded: tuple[Any, Path], webhook: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _, path = loaded
    monkeypatch.setattr(alerts, "WEBHOOK_BATCH", 10)
    everything = sensitive_keys(path, min_rank=3)

    # 1. Nobody listens: connection refused after the retries. Printed, kept, exit 1.
    result = cli("--history", "--min-severity", "high", "--webhook", refused_url(), "--duckdb-path", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: webhook http://127.0.0.1:") and "connection failed after 4 attempts" in result.stderr
    assert f"{len(everything)} alerts kept for the next run" in result.stderr
    assert "secret-token" not in result.output

    # 2. The receiver answers 503: retried WEBHOOK_ATTEMPTS times, still kept.
    failing = webhook(503)
    result = cli("--min-severity", "high", "--webhook", failing.url, "--duckdb-path", str(path))
    assert result.exit_code == 1 and "HTTP 503 after 4 attempts" in result.stderr
    assert len(failing.bodies) == alerts.WEBHOOK_ATTEMPTS  # the first batch, four times; later batches wait
    assert "secret-token" not in result.output

    # 3. A working receiver gets every kept alert, marked as a retry, exactly once.
    working = webhook(200)
    code, body = json_run(path, "--min-severity", "high", "--webhook", working.url)
    assert code == 3 and body["retried"] == len(everything) and body["new"] == 0 and body["delivery_error"] is None
    assert sorted(working.accepted_keys()) == sorted(everything)
    assert all(alert["retry"] for request in working.bodies for alert in request["alerts"])
    assert len(working.bodies) == -(-len(everything) // 10)
    assert working.bodies[0]["text"].startswith("zendesk-audit: 10 sensitive changes")

    # 4. Nothing is sent twice; lower severities are new and go out once.
    code, body = json_run(path, "--webhook", working.url)
    assert code == 3 and body["retried"] == 0
    assert sorted(working.accepted_keys()) == sorted(sensitive_keys(path))
    assert json_run(path, "--webhook", working.url)[0] == 0
    ledger = ledger_rows(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))
    assert {row["status"] for row in ledger} == {"delivered"}
    assert {row["attempts"] for row in ledger if row["severity"] in ("high", "critical")} == {3}


def test_a_refusing_webhook_is_not_hammered(loaded: tuple[Any, Path], webhook: Any) -> None:
    _, path = loaded
    refusing = webhook(400)
    result = cli("--history", "--min-severity", "critical", "--webhook", refusing.url, "--duckdb-path", str(path))
    assert result.exit_code == 1 and "(HTTP 400)" in result.stderr
    assert len(refusing.bodies) == 1
    # Without a webhook, undelivered alerts are neither printed again nor lost.
    assert cli("--min-severity", "critical", "--duckdb-path", str(path)).exit_code == 0
    working = webhook(200)
    code, body = json_run(path, "--min-severity", "critical", "--webhook", working.url)
    assert code == 3 and body["retried"] == len(sensitive_keys(path, 4))


def test_a_redirecting_webhook_is_not_followed_and_counts_as_failed(loaded: tuple[Any, Path], webhook: Any) -> None:
    _, path = loaded
    elsewhere = webhook(200)
    redirecting = webhook(307, location=elsewhere.url)
    critical = sensitive_keys(path, min_rank=4)
    result = cli("--history", "--min-severity", "critical", "--webhook", redirecting.url, "--duckdb-path", str(path))
    assert result.exit_code == 1
    assert elsewhere.bodies == []  # the alerts went nowhere else
    assert len(redirecting.bodies) == 1  # and a redirect is not retried
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "HTTP 307 redirect, not followed" in errors[0], result.stderr
    assert f"{len(critical)} alerts kept for the next run" in errors[0]
    assert "secret-token" not in result.output and "services" not in result.output
    ledger = ledger_rows(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))
    assert {row["status"] for row in ledger} == {"undelivered"} and len(ledger) == len(critical)

    # Nobody listening at a URL with a secret: one line, scheme://host:port only.
    refused = cli("--min-severity", "critical", "--webhook", refused_url() + "/T0/secret-token", "--duckdb-path", str(path))
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "secret-token" not in refused.output and "/hook" not in refused.output


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/services/T0/B0/secret-token", "http://[::1/services/secret-token",
                                 "hooks.example.com/services/T0/B0/secret-token"])
def test_a_webhook_url_that_cannot_be_used_fails_in_one_line_without_its_secret(loaded: tuple[Any, Path], url: str) -> None:
    _, path = loaded
    result = cli("--webhook", url, "--duckdb-path", str(path))
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "--webhook must be an http(s) URL" in result.output
    assert "secret" not in result.output and "services" not in result.output


def test_alert_text_is_inert_and_json_keeps_the_exact_values(loaded: tuple[Any, Path]) -> None:
    sandbox, path = loaded
    actor = "Eve\x1b]0;pwned\x07\x1b[2J\u202etxt.exe"
    sandbox.append(1, created_at=datetime.now(timezone.utc) - timedelta(hours=1), id=6_199_000_000_300, action="update",
                   source_type="account_setting", source_label="Two-factor authentication \u200b\u202eexe.txt",
                   change_description="Disabled\r\n\x9b2J all good", actor_name=actor)
    load_and_build(sandbox, path)
    everything = sensitive_keys(path)
    raw_control = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

    as_json = cli("--duckdb-path", str(path), "--format", "json", "--history")
    assert as_json.exit_code == 3 and not raw_control.search(as_json.stdout), repr(raw_control.search(as_json.stdout))
    body = json.loads(as_json.stdout)
    assert len(body["alerts"]) == len(everything)
    hostile = next(alert for alert in body["alerts"] if alert["audit_log_id"] == 6_199_000_000_300)
    assert hostile["actor_name"] == actor  # JSON readers get the data as it is

    with duckdb.connect(str(path)) as connection:  # forget them, to print the same alerts as text
        connection.execute("delete from zendesk_audit_models.alert_ledger")
    text = cli("--duckdb-path", str(path))
    assert text.exit_code == 3 and not raw_control.search(text.stdout), repr(raw_control.search(text.stdout))
    lines = text.stdout.strip().split("\n")
    assert len(lines) == len(everything) + 1  # one line per alert: no CR or LF from the data splits one
    line = next(line for line in lines if "(audit log 6199000000300)" in line)
    assert "Eve\\x1b]0;pwned\\x07\\x1b[2J<U+202E>txt.exe" in line and "<U+200B><U+202E>exe.txt" in line
    assert "Disabled\\r / \\x9b2J all good" in line


def test_run_alerts_library_for_load_alerts(loaded: tuple[Any, Path]) -> None:
    _, path = loaded
    pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path))
    result = run_alerts(pipeline, min_severity="high", from_=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert result.exit_code == 3 and result.lines()[-1] == result.summary_line()
    assert all(alert.created_at >= datetime(2026, 1, 1, tzinfo=timezone.utc) for alert in result.alerts)
    assert run_alerts(pipeline, min_severity="high", from_="2026-01-01").exit_code == 0


def test_usage_errors_exit_2_in_one_line(loaded: tuple[Any, Path], tmp_path: Path) -> None:
    _, path = loaded
    for args, message in [
        (["--since-last", "--from", "2026-01-01"], "--since-last reports everything not reported yet"),
        (["--from", "01/02/2026"], "--from '01/02/2026' is not an ISO 8601"),
        (["--webhook", "ftp://host/x"], "--webhook must be an http(s) URL"),
        (["--min-severity", "urgent"], "urgent"),
    ]:
        result = cli("--duckdb-path", str(path), *args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    missing = cli("--duckdb-path", str(tmp_path / "none.duckdb"))
    assert missing.exit_code == 2 and "no DuckDB file at" in missing.output
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    unbuilt = cli("--duckdb-path", str(tmp_path / "empty.duckdb"))
    assert unbuilt.exit_code == 2 and "run `zendesk-audit models build`" in unbuilt.output


@pytest.mark.postgres
def test_never_twice_and_webhook_retry_on_postgres(sandbox_factory: Any, postgres: str, webhook: Any) -> None:
    sandbox = sandbox_factory(records=RECORDS, seed=3)
    load_sandbox(sandbox, destination="postgres", dataset=postgres, lag_seconds=0)
    pipeline = create_pipeline("postgres", postgres)
    build_models(pipeline)

    failed = run_alerts(pipeline, min_severity="critical", webhook=refused_url(), history=True)
    assert failed.exit_code == 1 and failed.alerts and failed.delivered == 0
    hook = webhook(200)
    retried = run_alerts(pipeline, webhook=hook.url)
    assert retried.exit_code == 3 and len(retried.retried) == len(failed.alerts)
    assert len(hook.accepted_keys()) == len(set(hook.accepted_keys())) == len(retried.alerts)
    assert run_alerts(pipeline, webhook=hook.url).exit_code == 0

    sandbox.append(1, created_at=datetime.now(timezone.utc) - timedelta(hours=1), id=6_199_000_000_200,
                   action="update", source_type="account_setting", source_label="Two-factor authentication",
                   change_description="Disabled")
    load_sandbox(sandbox, destination="postgres", dataset=postgres, lag_seconds=0)
    build_models(pipeline)
    latest = run_alerts(pipeline, webhook=hook.url)
    assert [alert.key for alert in latest.alerts] == ["acme/6199000000200/two_factor_disabled"]
    assert len(hook.accepted_keys()) == len(set(hook.accepted_keys()))
    rows = ledger_rows(pipeline)
    assert len(rows) == len(retried.alerts) + 1 and {row["status"] for row in rows} == {"delivered"}
