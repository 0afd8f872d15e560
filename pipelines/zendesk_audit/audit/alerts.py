"""Alerts: report each new row of `sensitive_changes` once, to stdout and optionally a webhook.

Someone disabled two-factor authentication at 3 a.m.: the security engineer should know after the
next load, not at the next quarterly review. `run_alerts` reads the view `sensitive_changes`,
keeps the rows at or above a severity that the ledger has not seen, prints them, POSTs them as
JSON to a webhook, and records them in the ledger table `<dataset>_models.alert_ledger`, keyed by
(rule_id, subdomain, audit_log_id), with when they were reported and the delivery status:

- `reported`: printed, no webhook configured;
- `delivered`: the webhook answered 2xx;
- `undelivered`: the webhook failed (connection refused, timeout, 5xx or 429 after retries,
  another 4xx, or a 3xx: redirects are never followed): the next run with a webhook sends these
  again, with the new ones.

What reaches a terminal is inert (`text_safety`): control characters escaped, invisible and
bidirectional characters shown as `<U+XXXX>`, and the webhook only ever named as scheme://host[:port].

- `historic`: on record before the account's first alerts run (below), not alerted; `--history`
  reports these too.

The first run for an account (the first `alerts`, or `load --alerts`, after a backfill) does not
alert on the account's whole past: it records every sensitive change already there as `historic`,
prints one line per account ("acme: 1,635 historic sensitive changes up to <time>, not alerted:
see them with `zendesk-audit alerts --history` ..."), and marks the account in
`<dataset>_models.alert_baselines`. From then on only what is new is alerted. `--history` (or
`history=True`) reports the historic ones as alerts, once, and on a first run skips the summary.

The ledger, not a time cursor, decides what is new: a record that arrives late with an old
`created_at` is still reported, and a row is never reported twice. The one exception is a crash
between the POST and the ledger write, which sends that batch again next time (at least once,
never lost): receivers can deduplicate on each alert's `key`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from zendesk_audit.audit.period import Period, fetch, iso, require_views
from zendesk_audit.errors import EXIT_ALERTS, EXIT_FAILED, EXIT_OK, ConfigurationError
from zendesk_audit.models.account_zones import AccountTimeZone, account_time_zones, fallback_warnings
from zendesk_audit.models.account_zones import summary as time_zone_summary
from zendesk_audit.models.seeds import SEVERITIES, SEVERITY_RANKS
from zendesk_audit.models.warehouse import sql_literal, sql_type_name, value_literal
from zendesk_audit.text_safety import json_text, terminal_text
from zendesk_audit.zendesk_api.deadline import GuardedAdapter, guarded_call

if TYPE_CHECKING:
    import dlt

    from zendesk_audit.models.warehouse import DltSqlEngine

LEDGER_TABLE = "alert_ledger"
LEDGER_COLUMNS = [
    ("rule_id", "text"),
    ("subdomain", "text"),
    ("audit_log_id", "bigint"),
    ("severity", "text"),
    ("reported_at", "timestamp"),
    ("status", "text"),
    ("attempts", "integer"),
    ("last_error", "text"),
    ("delivered_at", "timestamp"),
]

BASELINE_TABLE = "alert_baselines"
BASELINE_COLUMNS = [
    ("subdomain", "text"),
    ("baselined_at", "timestamp"),
    ("historic_changes", "integer"),
]
HISTORIC = "historic"

# Webhook delivery: bounded exponential backoff, then the alerts wait for the next run.
WEBHOOK_ATTEMPTS = 4
WEBHOOK_BACKOFF_SECONDS = 0.5
WEBHOOK_BACKOFF_MAX_SECONDS = 8.0
WEBHOOK_TIMEOUT_SECONDS = (5.0, 30.0)
# The longest one whole answer of the receiver may take (the timeouts above are per socket read:
# a receiver trickling a byte a second would hold the alerts, and the ledger's lock, forever).
WEBHOOK_ANSWER_SECONDS = 60.0
WEBHOOK_BATCH = 100

ALERT_COLUMNS = (
    "rule_id", "subdomain", "audit_log_id", "severity", "severity_rank", "rule_title", "actor_id", "actor_name",
    "action", "source_type", "source_id", "source_label", "change_description_text", "ip_address", "created_at",
    "created_at_local",
)

__all__ = ["Alert", "AlertsResult", "SEVERITIES", "run_alerts", "severity_rank"]


def severity_rank(severity: str) -> int:
    """0 (informational), 1 (low) .. 4 (critical), as `sensitive_changes.severity_rank` (seed severities).

    Raises:
        ConfigurationError: not one of informational, low, medium, high, critical.
    """
    name = severity.strip().lower()
    if name not in SEVERITY_RANKS:
        raise ConfigurationError(f"unknown severity {severity!r}: use {', '.join(SEVERITIES)}")
    return SEVERITY_RANKS[name]


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value) if value.tzinfo else value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class Alert:
    """One row of `sensitive_changes`, as printed and sent."""

    rule_id: str
    subdomain: str
    audit_log_id: int
    severity: str
    severity_rank: int
    rule_title: str | None
    actor_id: int | None
    actor_name: str | None
    action: str | None
    source_type: str | None
    source_id: int | None
    source_label: str | None
    change_description_text: str | None
    ip_address: str | None
    created_at: datetime | None
    created_at_local: datetime | None
    retry: bool = False
    time_zone: str | None = None  # the zone of created_at_local (see AlertsResult.time_zones)
    historic: bool = False  # recorded as history by a first run, reported now on request (--history)

    @property
    def key(self) -> str:
        """Stable across runs: what a receiver deduplicates on."""
        return f"{self.subdomain}/{self.audit_log_id}/{self.rule_id}"

    def as_dict(self) -> dict[str, Any]:
        data = {"key": self.key}
        data.update({name: _text(getattr(self, name)) for name in ALERT_COLUMNS})
        data["time_zone"] = self.time_zone
        data["retry"] = self.retry
        data["historic"] = self.historic
        return data

    def line(self) -> str:
        """One terminal line; every value from the data goes through `terminal_text` (no control
        sequence, line break or invisible character reaches the terminal as it is)."""
        when = _text(self.created_at)
        zone = self.time_zone or "local"
        local = f" ({self.created_at_local:%Y-%m-%d %H:%M} {zone})" if isinstance(self.created_at_local, datetime) else ""
        what = " ".join(terminal_text(part) for part in (self.action, self.source_type) if part)
        label = f" '{terminal_text(self.source_label)}'" if self.source_label else ""
        detail = terminal_text((self.change_description_text or "").replace("\n", " / ").strip())
        detail = f": {detail[:160]}" if detail else ""
        ip = f" from {terminal_text(self.ip_address)}" if self.ip_address else ""
        retry = " [retrying delivery]" if self.retry else " [history]" if self.historic else ""
        actor = terminal_text(self.actor_name or self.actor_id)
        return (
            f"{terminal_text(self.severity.upper()):<8} {terminal_text(self.rule_id)} at {when}{local} in "
            f"{terminal_text(self.subdomain)}: {actor} {what}{label}{detail}{ip} (audit log {self.audit_log_id}){retry}"
        )


@dataclass
class HistorySummary:
    """One account's sensitive changes recorded, not alerted, by its first alerts run."""

    subdomain: str
    changes: int  # at or above the run's severity
    by_severity: dict[str, int]
    up_to: datetime | None  # the latest of them

    def line(self, min_severity: str) -> str:
        counts = ", ".join(f"{count:,} {name}" for name, count in self.by_severity.items() if count)
        when = f" up to {_text(self.up_to)}" if self.up_to else ""
        return (
            f"{self.subdomain}: {self.changes:,} historic sensitive changes at or above {min_severity}{when}"
            f"{f' ({counts})' if counts else ''}, not alerted: this is the first alerts run for {self.subdomain}, "
            "only changes from now on are alerted; see them with `zendesk-audit alerts --history` "
            "(add --webhook URL to send them) or in `zendesk-audit report`"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"subdomain": self.subdomain, "changes": self.changes, "by_severity": self.by_severity,
                "up_to": _text(self.up_to) if self.up_to else None}


@dataclass
class AlertsResult:
    """What a run found and delivered; `exit_code` is what the command exits with (the table in `errors.py`)."""

    min_severity: str
    period: Period
    alerts: list[Alert] = field(default_factory=list)  # new and retried, in time order
    webhook: str | None = None  # redacted: scheme://host only
    delivered: int = 0
    requests: int = 0
    delivery_error: str | None = None
    # Each account's zone for the local times, its source, and why it fell back to UTC.
    time_zones: list[AccountTimeZone] = field(default_factory=list)
    # Accounts whose first run recorded their past instead of alerting on it.
    history: list[HistorySummary] = field(default_factory=list)

    @property
    def new(self) -> list[Alert]:
        return [alert for alert in self.alerts if not alert.retry and not alert.historic]

    @property
    def historic(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.historic]

    @property
    def retried(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.retry]

    @property
    def exit_code(self) -> int:
        """1 when the webhook failed (the alerts wait for the next run), 3 when alerts were found, else 0."""
        if self.delivery_error:
            return EXIT_FAILED
        return EXIT_ALERTS if self.alerts else EXIT_OK

    def summary_line(self) -> str:
        if not self.alerts:
            found = f"alerts: none new at or above {self.min_severity}"
        else:
            counts = {name: sum(1 for alert in self.new if alert.severity == name) for name in reversed(SEVERITIES)}
            by_severity = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
            found = f"alerts: {len(self.new)} new at or above {self.min_severity}" + (f" ({by_severity})" if by_severity else "")
            if self.historic:
                found += f", {len(self.historic)} from the history"
            if self.retried:
                found += f", {len(self.retried)} retried"
        if self.alerts and self.time_zones:  # the zone of the local times printed above
            found += f"; {time_zone_summary(self.time_zones)}"
        if self.webhook is None:
            return found
        if self.delivery_error:
            kept = len(self.alerts) - self.delivered
            return f"{found}; webhook {self.webhook}: {self.delivered} delivered, {kept} kept for the next run"
        return f"{found}; webhook {self.webhook}: {self.delivered} delivered in {self.requests} requests"

    def as_dict(self) -> dict[str, Any]:
        return {
            "alerts": [alert.as_dict() for alert in self.alerts],
            "new": len(self.new),
            "retried": len(self.retried),
            "min_severity": self.min_severity,
            "period": self.period.as_dict(),
            "webhook": self.webhook,
            "delivered": self.delivered,
            "delivery_error": self.delivery_error,
            "exit_code": self.exit_code,
            "time_zones": [zone.as_dict() for zone in self.time_zones],
            "historic": len(self.historic),
            "history_not_alerted": [summary.as_dict() for summary in self.history],
        }

    def lines(self, format: str = "text") -> list[str]:
        """What the command prints on stdout: one line per alert and a summary, or one JSON object."""
        if format == "json":
            return [json_text(self.as_dict())]
        history = [terminal_text(summary.line(self.min_severity)) for summary in self.history]
        return history + [alert.line() for alert in self.alerts] + [terminal_text(self.summary_line())]

    def warning_lines(self) -> list[str]:
        """Lines for stderr: each account whose local times fell back to UTC, why, and the fixes."""
        return fallback_warnings(self.time_zones)

    def error_line(self) -> str | None:
        """The one line for stderr when the webhook failed."""
        if not self.delivery_error:
            return None
        kept = len(self.alerts) - self.delivered
        return terminal_text(f"webhook {self.webhook} failed ({self.delivery_error}): {kept} alerts kept for the next run")


# ----------------------------------------------------------------------------- webhook
def redact_url(url: str) -> str:
    """scheme://host[:port] only: webhook paths and queries often carry the secret (Slack, Teams)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def check_webhook(url: str) -> str:
    """Raises ConfigurationError unless `url` is http(s) with a host and a valid port.

    The message shows the URL reduced to what `redact_url` keeps: a webhook's path is its secret.
    """
    try:
        parts = urlsplit(url)
        # .port raises ValueError for a port out of range or not a number.
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid:
        scheme, separator, rest = url.partition("://")
        host = re.split(r"[/?#]", rest if separator else url, maxsplit=1)[0].rsplit("@", 1)[-1][:60]
        shown = f"{scheme[:10]}://{host}" if separator else host
        raise ConfigurationError(
            f"--webhook must be an http(s) URL with a host and a port from 1 to 65535, not {terminal_text(shown)!r}"
        )
    return url


def webhook_session() -> requests.Session:
    """A session whose every call honours a whole-answer deadline (`deadline.guarded_call`)."""
    session = requests.Session()
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def post_with_retries(
    url: str, payload: dict[str, Any], session: requests.Session, answer_seconds: float | None = None
) -> str | None:
    """POST JSON; None when a 2xx came back, else why not (after the retries that make sense).

    A redirect is not followed and is a failure: a receiver that moved must be reconfigured, and
    following it would hand the alerts to wherever a compromised or mistyped endpoint points. The
    reason never quotes the exception text: `requests` puts the full URL, with its secret, in it.
    """
    reason = "not attempted"
    seconds = WEBHOOK_ANSWER_SECONDS if answer_seconds is None else answer_seconds
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        with guarded_call(seconds) as call:
            try:
                response = session.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False)
            except requests.RequestException as exc:
                response = None
                failure: BaseException | None = exc
            else:
                failure = None
        if call.expired:
            reason = f"no whole answer within {seconds:g} s"
        elif isinstance(failure, requests.Timeout):
            reason = "timed out"
        elif isinstance(failure, requests.ConnectionError):
            reason = "connection failed"
        elif failure is not None:
            return f"request failed: {type(failure).__name__}"  # a bad URL or answer: repeating it will not help
        elif response is not None:
            status = response.status_code
            if 200 <= status < 300:
                return None
            if 300 <= status < 400:
                return f"HTTP {status} redirect, not followed: point --webhook at the receiver itself"
            reason = f"HTTP {status}"
            if status < 500 and status != 429:
                return reason  # the receiver refused this request: repeating it now will not help
        if attempt < WEBHOOK_ATTEMPTS:
            time.sleep(min(WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1), WEBHOOK_BACKOFF_MAX_SECONDS))
    return f"{reason} after {WEBHOOK_ATTEMPTS} attempts"


def deliver(
    url: str, alerts: list[Alert], result: AlertsResult, dataset: str, answer_seconds: float | None = None
) -> set[str]:
    """Send the alerts in batches; the keys delivered. Stops at the first batch that fails."""
    delivered: set[str] = set()
    with webhook_session() as session:
        for start in range(0, len(alerts), WEBHOOK_BATCH):
            batch = alerts[start : start + WEBHOOK_BATCH]
            payload = {
                "source": "zendesk-audit",
                "dataset": dataset,
                "text": f"zendesk-audit: {len(batch)} sensitive changes at or above {result.min_severity}",
                "count": len(batch),
                "alerts": [alert.as_dict() for alert in batch],
            }
            result.requests += 1
            error = post_with_retries(url, payload, session, answer_seconds)
            if error:
                result.delivery_error = error
                break
            delivered.update(alert.key for alert in batch)
    result.delivered = len(delivered)
    return delivered


# ----------------------------------------------------------------------------- ledger
def ensure_ledger(engine: DltSqlEngine, schema: str) -> str:
    table = engine.relation(schema, LEDGER_TABLE)
    engine.create_schema(schema)
    columns = ", ".join(f"{name} {sql_type_name(kind)}" for name, kind in LEDGER_COLUMNS)
    engine.execute(f"create table if not exists {table} ({columns}{engine.primary_key('rule_id', 'subdomain', 'audit_log_id')})")
    return table


def _candidates(engine: DltSqlEngine, view: str, ledger: str, period: Period, rank: int, retry: bool,
                history: bool = False) -> list[Alert]:
    columns = ", ".join(f"sensitive_changes.{name}" for name in ALERT_COLUMNS)
    conditions = [f"sensitive_changes.severity_rank >= {rank}"] + period.conditions(ALERT_COLUMNS, "sensitive_changes")
    matches = (
        "alert_ledger.rule_id = sensitive_changes.rule_id and alert_ledger.subdomain = sensitive_changes.subdomain "
        "and alert_ledger.audit_log_id = sensitive_changes.audit_log_id"
    )
    new = f"not exists (select 1 from {ledger} as alert_ledger where {matches})"
    pending = f"exists (select 1 from {ledger} as alert_ledger where {matches} and alert_ledger.status = 'undelivered')"
    historic = f"exists (select 1 from {ledger} as alert_ledger where {matches} and alert_ledger.status = '{HISTORIC}')"
    wanted = " or ".join([new, *([pending] if retry else []), *([historic] if history else [])])
    sql = (
        f"select {columns}, {pending} as is_retry, {historic} as is_historic from {view} as sensitive_changes "
        f"where {' and '.join(conditions + [f'({wanted})'])} "
        "order by sensitive_changes.created_at, sensitive_changes.audit_log_id, sensitive_changes.rule_id"
    )
    _, rows = fetch(engine, sql)
    return [Alert(*row[:-2], retry=bool(row[-2]), historic=bool(row[-1])) for row in rows]


def _record(engine: DltSqlEngine, ledger: str, result: AlertsResult, delivered: set[str], webhook: bool) -> None:
    now = datetime.now(timezone.utc)
    error = result.delivery_error
    for alert in result.retried:
        ok = alert.key in delivered
        engine.execute(
            f"update {ledger} set status = {sql_literal('delivered' if ok else 'undelivered')}, "
            f"attempts = attempts + 1, last_error = {sql_literal(None if ok else error)}, "
            f"delivered_at = {value_literal(now if ok else None, 'timestamp')} "
            f"where rule_id = {sql_literal(alert.rule_id)} and subdomain = {sql_literal(alert.subdomain)} "
            f"and audit_log_id = {alert.audit_log_id}"
        )
    for alert in result.historic:  # reported now (--history): from then on like any reported alert
        ok = alert.key in delivered
        status = ("delivered" if ok else "undelivered") if webhook else "reported"
        engine.execute(
            f"update {ledger} set status = {sql_literal(status)}, reported_at = {value_literal(now, 'timestamp')}, "
            f"attempts = {1 if webhook else 0}, last_error = {sql_literal(None if ok or not webhook else error)}, "
            f"delivered_at = {value_literal(now if ok else None, 'timestamp')} "
            f"where rule_id = {sql_literal(alert.rule_id)} and subdomain = {sql_literal(alert.subdomain)} "
            f"and audit_log_id = {alert.audit_log_id}"
        )
    rows = []
    for alert in result.new:
        ok = alert.key in delivered
        status = ("delivered" if ok else "undelivered") if webhook else "reported"
        rows.append((alert.rule_id, alert.subdomain, alert.audit_log_id, alert.severity, now, status,
                     1 if webhook else 0, None if ok or not webhook else error, now if ok else None))
    if rows:
        engine.insert_rows(ledger, LEDGER_COLUMNS, rows)


def ensure_baselines(engine: DltSqlEngine, schema: str) -> str:
    table = engine.relation(schema, BASELINE_TABLE)
    columns = ", ".join(f"{name} {sql_type_name(kind)}" for name, kind in BASELINE_COLUMNS)
    engine.execute(f"create table if not exists {table} ({columns}{engine.primary_key('subdomain')})")
    return table


def _record_history(engine: DltSqlEngine, schema: str, view: str, ledger: str, subdomain: str | None, rank: int,
                    history: bool) -> list[HistorySummary]:
    """The first run for each account with records: mark it in `alert_baselines` and, unless
    `history` (then everything is alerted as new), record its sensitive changes of every severity
    in the ledger as `historic`; one summary per account whose history was recorded."""
    baselines = ensure_baselines(engine, schema)
    accounts = engine.relation(schema, "stg_audit_logs")
    where = f" where subdomain = {sql_literal(subdomain)}" if subdomain else ""
    known = {str(row[0]) for row in engine.query(f"select subdomain from {baselines}")}
    first = sorted(str(row[0]) for row in engine.query(f"select distinct subdomain from {accounts}{where}")
                   if row[0] is not None and str(row[0]) not in known)
    now = datetime.now(timezone.utc)
    summaries = []
    for name in first:
        count = 0
        if not history:
            columns = ("rule_id", "subdomain", "audit_log_id", "severity", "severity_rank", "created_at")
            _, rows = fetch(engine, (
                f"select {', '.join(f'sensitive_changes.{column}' for column in columns)} from {view} as sensitive_changes "
                f"where sensitive_changes.subdomain = {sql_literal(name)} and not exists (select 1 from {ledger} as "
                "alert_ledger where alert_ledger.rule_id = sensitive_changes.rule_id and alert_ledger.subdomain = "
                "sensitive_changes.subdomain and alert_ledger.audit_log_id = sensitive_changes.audit_log_id)"
            ))
            if rows:
                engine.insert_rows(ledger, LEDGER_COLUMNS, [
                    (rule_id, account, audit_log_id, severity, now, HISTORIC, 0, None, None)
                    for rule_id, account, audit_log_id, severity, _, _ in rows
                ])
            shown = [row for row in rows if row[4] is not None and int(row[4]) >= rank]
            count = len(shown)
            if shown:
                by_severity = {level: sum(1 for row in shown if row[3] == level) for level in reversed(SEVERITIES)}
                times = [row[5] for row in shown if row[5] is not None]
                summaries.append(HistorySummary(name, count, by_severity, max(times) if times else None))
        engine.insert_rows(baselines, BASELINE_COLUMNS, [(name, now, count)])
    return summaries


def _as_period(from_: str | datetime | None, to: str | datetime | None, subdomain: str | None) -> Period:
    if isinstance(from_, datetime) or isinstance(to, datetime):
        start = from_ if isinstance(from_, datetime) else None
        end = to if isinstance(to, datetime) else None
        return Period.parse(iso(start) if start else None, iso(end) if end else None, subdomain)
    return Period.parse(from_, to, subdomain)


def run_alerts(
    pipeline: dlt.Pipeline,
    *,
    since_last: bool = True,
    from_: str | datetime | None = None,
    to: str | datetime | None = None,
    min_severity: str = "low",
    webhook: str | None = None,
    subdomain: str | None = None,
    webhook_answer_seconds: float | None = None,
    history: bool = False,
) -> AlertsResult:
    """Report the `sensitive_changes` rows not reported before, and remember them.

    Args:
        pipeline: the dlt pipeline whose destination holds the built models (DuckDB, PostgreSQL, ...).
        since_last: every row the ledger has not seen (the default). With `from_`/`to`, only the
            rows of that window that the ledger has not seen; the rest wait for a later run.
        from_: start of the window, inclusive (ISO 8601 or an aware datetime).
        to: end of the window, exclusive.
        min_severity: low, medium, high or critical: rows below are neither reported nor recorded.
        webhook: http(s) URL to POST the alerts to as JSON; undelivered alerts from earlier runs
            are sent again with the new ones.
        subdomain: only this account.
        webhook_answer_seconds: the longest one answer of the webhook may take, headers and body
            (default `WEBHOOK_ANSWER_SECONDS`, 60 s); a slower one is cut off and counts as failed.
        history: also report what an account's first run recorded as history (not alerted), and
            on an account's first run report its whole past instead of summarising it.

    Returns:
        The alerts (new and retried) and the delivery outcome; `exit_code` is 3 when alerts were
        found, 1 when the webhook failed, 0 otherwise.

    Raises:
        ConfigurationError: bad severity, window or URL, or the models are not built.

    Example:
        >>> result = run_alerts(create_pipeline("duckdb"), min_severity="high", webhook="https://hooks.example/x")
        >>> print("\\n".join(result.lines())); raise SystemExit(result.exit_code)
    """
    from zendesk_audit.models.build import models_schema_name
    from zendesk_audit.models.warehouse import open_engine

    rank = severity_rank(min_severity)
    name = min_severity.strip().lower()
    if webhook:
        check_webhook(webhook)
    period = _as_period(from_, to, subdomain)
    result = AlertsResult(name, period, webhook=redact_url(webhook) if webhook else None)
    dataset = pipeline.dataset_name
    schema = models_schema_name(dataset)
    with open_engine(pipeline) as engine:
        require_views(engine, dataset, ["sensitive_changes"])
        ledger = ensure_ledger(engine, schema)
        with engine.transaction():
            if engine.dialect == "postgres":
                # Two runs at once would both see a row as new: the second waits for the first.
                engine.execute(f"lock table {ledger} in share row exclusive mode")
            view = engine.relation(schema, "sensitive_changes")
            if since_last and period.start is None and period.end is None:
                result.history = _record_history(engine, schema, view, ledger, period.subdomain, rank, history)
            result.alerts = _candidates(engine, view, ledger, period, rank, retry=bool(webhook), history=history)
            result.time_zones = account_time_zones(engine, dataset, period.subdomain)
            zones = {zone.subdomain: zone.time_zone for zone in result.time_zones}
            for alert in result.alerts:
                alert.time_zone = zones.get(alert.subdomain)
            delivered = (deliver(webhook, result.alerts, result, dataset, webhook_answer_seconds)
                         if webhook and result.alerts else set())
            _record(engine, ledger, result, delivered, webhook=bool(webhook))
    return result


def ledger_rows(pipeline: dlt.Pipeline) -> list[dict[str, Any]]:
    """The ledger as dicts (for tests and `--format json` consumers that want history)."""
    from zendesk_audit.models.build import models_schema_name
    from zendesk_audit.models.warehouse import open_engine

    with open_engine(pipeline) as engine:
        table = ensure_ledger(engine, models_schema_name(pipeline.dataset_name))
        columns, rows = fetch(engine, f"select * from {table} order by reported_at, audit_log_id, rule_id")
    return [dict(zip(columns, row)) for row in rows]


