"""Several Zendesk accounts into one dataset: each its own credentials, base URL and incremental state.

Config layout (dlt-native: TOML tables or the matching environment variables):

    [sources.zendesk_audit]
    subdomains = ["acme", "beta"]          # or: zendesk-audit load --subdomain acme --subdomain beta

    [sources.zendesk_audit.accounts.acme.credentials]   # SOURCES__ZENDESK_AUDIT__ACCOUNTS__ACME__CREDENTIALS__*
    client_id = "..."
    client_secret = "..."

    [sources.zendesk_audit.accounts.beta]
    base_url = "https://beta.example-proxy.com"          # optional; default https://beta.zendesk.com
    time_zone = "America/New_York"                       # optional; default the account settings'

An account's credentials are read as a whole from its own table; an account without one uses
`[sources.zendesk_audit.credentials]` as a whole (never key by key: dlt's section fallback would
mix one account's e-mail with another's token). A shared `base_url` would send every account's
credentials to one address, so it is refused when several accounts load.

Each account runs as its own dlt pipeline, based on `zendesk_audit_<subdomain>`: dlt keys state
(the `created_at` cursor, locally and in the destination's `_dlt_pipeline_state`) by pipeline name,
so every account keeps its own cursor in the one shared dataset, and an ephemeral worker restores
each from the destination. One account failing is reported and the next one still loads.
A single account (one `--subdomain`, or none) keeps the base name `zendesk_audit`. The dlt name adds
the database and dataset (`state_layout`): `zendesk_audit_acme_duckdb_zendesk_audit_3942703e`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import dlt
from dlt.common.configuration.exceptions import ConfigurationException

from zendesk_audit.errors import (
    EXIT_AFTER_LOAD,
    EXIT_FAILED,
    EXIT_OK,
    AfterLoadError,
    ConfigurationError,
    CursorAheadError,
    ZendeskAuditError,
    config_problem,
    first_line,
)
from zendesk_audit.extract.cursor import CursorReport, read_cursor, repair_command, repair_cursor
from zendesk_audit.extract.options import check_config_files, check_start, check_subdomain, configured_options, settled_end
from zendesk_audit.load.api_load import LoadResult, load_one_account
from zendesk_audit.load.pipeline import create_destination, create_pipeline, write_lock
from zendesk_audit.load.runner import LoadOptions, alerts_after_load, build_models_after
from zendesk_audit.load.state_layout import account_pipeline_name, state_pipeline_name
from zendesk_audit.settings import (
    DEFAULT_DATASET_NAME,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_PIPELINE_NAME,
)
from zendesk_audit.time_zones import check_time_zone
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials

if TYPE_CHECKING:
    from zendesk_audit.audit.alerts import AlertsResult

SUBDOMAINS_KEY = "sources.zendesk_audit.subdomains"
ACCOUNTS_KEY = "sources.zendesk_audit.accounts"
_CREDENTIAL_FIELDS = (
    "email", "api_token", "access_token", "client_id", "client_secret", "scope", "expires_in", "password"
)


def pipeline_name_for(subdomain: str) -> str:
    """`zendesk_audit_<subdomain>`: the base name of one account's pipelines, hence one state per account."""
    return account_pipeline_name(subdomain)


def dlt_pipeline_name(base: str, destination: str | None, dataset_name: str, duckdb_path: str) -> str:
    """The dlt pipeline that holds `base`'s state in this destination and dataset (`base` if unknown)."""
    try:
        return state_pipeline_name(base, create_destination(destination, duckdb_path), dataset_name)
    except ZendeskAuditError:
        return base


def configured_subdomains() -> list[str]:
    """`sources.zendesk_audit.subdomains` (a TOML list, or "a,b" / '["a","b"]' in an env var)."""
    value = dlt.config.get(SUBDOMAINS_KEY)
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = dlt.config.get(SUBDOMAINS_KEY, list)
        else:
            value = text.split(",")
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"{SUBDOMAINS_KEY} must be a list of subdomains, e.g. [\"acme\", \"beta\"]")
    return [str(item).strip() for item in value if str(item).strip()]


def choose_accounts(cli_subdomains: Sequence[str]) -> list[str]:
    """The accounts to load: `--subdomain` (repeatable) wins over the config list; duplicates dropped.

    One or none: the caller keeps the single-account path unchanged (and its own validation).
    """
    given = list(cli_subdomains)
    if not given:
        check_config_files()
        given = configured_subdomains()
    if len(given) <= 1:
        return given
    accounts: list[str] = []
    for item in given:
        subdomain = check_subdomain(item)
        if subdomain not in accounts:
            accounts.append(subdomain)
    return accounts


def _account_value(subdomain: str, key: str) -> Any:
    full = f"{ACCOUNTS_KEY}.{subdomain}.{key}"
    value = dlt.secrets.get(full)
    return value if value is not None else dlt.config.get(full)


def account_credentials(subdomain: str) -> ZendeskCredentials | None:
    """The account's own credentials table, whole, or None when it has none."""
    found = {name: _account_value(subdomain, f"credentials.{name}") for name in _CREDENTIAL_FIELDS}
    found = {name: value for name, value in found.items() if value not in (None, "")}
    if not found:
        return None
    credentials = ZendeskCredentials()
    for name, value in found.items():
        setattr(credentials, name, str(value))
    credentials.resolve()
    return credentials


def account_source_args(subdomain: str, shared: dict[str, Any]) -> dict[str, Any]:
    """`zendesk_audit_source` arguments for one account: its base URL, time zone and (if any) credentials.

    `--time-zone` (in `shared`) wins over the account's `time_zone`, which wins over
    `sources.zendesk_audit.time_zone` (resolved by dlt when neither is given).
    """
    args = {**shared, "subdomain": subdomain}
    base_url = _account_value(subdomain, "base_url")
    args["base_url"] = str(base_url) if base_url else f"https://{subdomain}.zendesk.com"
    time_zone = _account_value(subdomain, "time_zone")
    if not shared.get("time_zone") and time_zone not in (None, ""):
        args["time_zone"] = str(time_zone)
    credentials = account_credentials(subdomain)
    if credentials is not None:
        args["credentials"] = credentials
    return args


@dataclass
class AccountOutcome:
    subdomain: str
    pipeline_name: str  # the dlt pipeline with the account's state, for `dlt pipeline <name> info`
    status: str  # "ok" or "failed"
    result: LoadResult | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"subdomain": self.subdomain, "pipeline_name": self.pipeline_name, "status": self.status}
        if self.result is not None:
            data.update(self.result.as_dict())
        if self.error:
            data["error"] = self.error
        return data

    def line(self) -> str:
        if self.result is not None:
            return f"{self.subdomain}: {self.result.summary_line()}"
        return f"{self.subdomain}: failed: {self.error}"


@dataclass
class AccountsResult:
    """What `zendesk-audit load` did for several accounts."""

    accounts: list[AccountOutcome] = field(default_factory=list)
    models: dict[str, Any] | None = None
    models_summary: str | None = None
    models_error: str | None = None
    # "ok", "failed" (an account failed), or "<step>_failed" when every account loaded and a step
    # after the loads (models, alerts) failed; see `after_load_error`.
    status: str = "ok"
    after_load_error: str | None = None

    @property
    def failed(self) -> list[str]:
        return [outcome.subdomain for outcome in self.accounts if outcome.status != "ok"]

    @property
    def loaded(self) -> list[str]:
        return [outcome.subdomain for outcome in self.accounts if outcome.status == "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.models_error and not self.after_load_error

    def summary_line(self) -> str:
        loaded, failed = self.loaded, self.failed
        text = f"{len(self.accounts)} accounts: {len(loaded)} loaded ({', '.join(loaded) or 'none'})"
        if failed:
            text += f", {len(failed)} failed ({', '.join(failed)})"
        if self.models_error:
            text += "; models failed"
        elif self.after_load_error:
            text += f"; {self.status.replace('_', ' ')}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "failed" if self.failed else self.status,
            "accounts": [outcome.as_dict() for outcome in self.accounts],
            "loaded": self.loaded,
            "failed": self.failed,
            "models": self.models,
            "models_error": self.models_error,
            "after_load_error": self.after_load_error,
        }


def load_accounts(
    subdomains: Sequence[str],
    source_args: dict[str, Any] | None = None,
    options: LoadOptions | None = None,
) -> tuple[AccountsResult, AfterLoadError | None]:
    """Load each account in turn into one dataset; a failing account is recorded, the rest still load.

    Args:
        subdomains: the accounts (validated subdomains).
        source_args: shared `zendesk_audit_source` arguments (start, end, filters, ...); per-account
            base_url and credentials come from `[sources.zendesk_audit.accounts.<subdomain>]`.
        options: where and how; with `build_models`, the SQL models are built once, after the last
            account, when any account loaded.

    Returns:
        The outcome of each account, and the failure of the models build after them (exit 4 when
        every account loaded), recorded in the result too rather than raised: the loads are committed.

    Raises:
        ConfigurationError: a setting that would apply to every account wrongly (a shared base_url).

    Example:
        >>> result, failure = load_accounts(["acme", "beta"])
        >>> result.summary_line()
        '2 accounts: 2 loaded (acme, beta)'
    """

    check_config_files()
    options = options or LoadOptions()
    shared = dict(source_args or {})
    if shared.get("base_url") or dlt.config.get("sources.zendesk_audit.base_url"):
        raise ConfigurationError(
            "base_url applies to one account: with several accounts set it per account as "
            "sources.zendesk_audit.accounts.<subdomain>.base_url (SOURCES__ZENDESK_AUDIT__ACCOUNTS__<SUBDOMAIN>__BASE_URL)"
        )
    shared.pop("base_url", None)
    shared.pop("subdomain", None)
    # A bad time zone for any account stops the whole load before anything is written.
    zones = [account_source_args(subdomain, shared).get("time_zone") for subdomain in subdomains]
    for subdomain, zone in zip(subdomains, zones):
        check_time_zone(zone, f"time_zone for {subdomain}")
    check_time_zone(dlt.config.get("sources.zendesk_audit.time_zone"), "sources.zendesk_audit.time_zone")
    # A start past the settled end is wrong for every account: refuse it once, exit 2, nothing written.
    window = configured_options(**{name: shared.get(name) for name in ("start", "end", "lag_seconds")},
                                subdomain=subdomains[0] if subdomains else None)
    check_start(window.start, settled_end(window.lag_seconds, datetime.now(timezone.utc)))
    result = AccountsResult()
    each = replace(options, build_models=False)  # once, after the last account
    for subdomain in subdomains:
        name = pipeline_name_for(subdomain)
        try:
            loaded = load_one_account(account_source_args(subdomain, shared), each, pipeline_name=name)
            result.accounts.append(AccountOutcome(subdomain, loaded.pipeline_name or name, "ok", result=loaded))
            continue
        except CursorAheadError as exc:
            # The repair must select the same accounts, hence the same pipelines, as this load.
            exc.repair_command = repair_command(
                subdomains, options.destination, options.dataset_name, options.duckdb_path,
                None if shared.get("end") else shared.get("start"), shared.get("lag_seconds"),
            )
            # One line already, and first_line's cut could drop the end of the command.
            error = str(exc)
        except ZendeskAuditError as exc:
            error = first_line(exc)
        except ConfigurationException as exc:
            error = f"configuration: {config_problem(exc)}"
        full_name = dlt_pipeline_name(name, options.destination, options.dataset_name, options.duckdb_path)
        result.accounts.append(AccountOutcome(subdomain, full_name, "failed", error=error))
    if not result.loaded:
        return result, None
    pipeline = create_pipeline(options.destination, options.dataset_name, options.duckdb_path,
                               pipeline_name=pipeline_name_for(result.loaded[0]))
    try:
        build_models_after(pipeline, result, options)
    except AfterLoadError as exc:
        result.models_error = exc.problem
        return result, exc
    return result, None


@dataclass
class AlertsRequest:
    """`load --alerts`: report new sensitive changes after the load."""

    min_severity: str = "low"
    webhook: str | None = None


@dataclass
class LoadCommandResult:
    """What `zendesk-audit load` did, one account or several: one JSON shape, its lines, its exit.

    `--json` always has `status`, `accounts`, `loaded`, `failed`, `models`, `models_error` and
    `after_load_error`; a run of one account also has that account's fields at the top level
    (`records_loaded`, `cursor`, ...), as it always had.
    """

    run: LoadResult | AccountsResult
    subdomains: list[str]
    # The after-load failure (models, alerts) that ends the command with exit 4, after the summary.
    failure: AfterLoadError | None = None
    alerts: AlertsResult | None = None

    @property
    def failed_accounts(self) -> list[str]:
        return self.run.failed if isinstance(self.run, AccountsResult) else []

    @property
    def exit_code(self) -> int:
        """1 when an account failed (whatever came after), 4 when a step after the committed load
        failed, else the alerts' code (3 when found), else 0."""
        if self.failed_accounts:
            return EXIT_FAILED
        if self.failure is not None:
            return EXIT_AFTER_LOAD
        return self.alerts.exit_code if self.alerts is not None else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        if isinstance(self.run, AccountsResult):
            return self.run.as_dict()
        subdomain = self.run.subdomain or (self.subdomains[0] if self.subdomains else "")
        outcome = AccountOutcome(subdomain, self.run.pipeline_name or "", "ok", result=self.run)
        return {
            **self.run.as_dict(),
            "accounts": [outcome.as_dict()],
            "loaded": [subdomain],
            "failed": [],
            "models_error": self.failure.problem if self.failure is not None and self.failure.step == "models" else None,
        }

    def lines(self, as_json: bool) -> list[tuple[str, bool]]:
        """(line, for stderr): the summary first, whatever follows; then the alerts."""
        alerts = self.alerts.lines("json" if as_json else "text") if self.alerts is not None else []
        if as_json:
            return [(json.dumps(self.as_dict(), default=str), False), *((line, False) for line in alerts)]
        if isinstance(self.run, LoadResult):
            out = [(line, False) for line in self.run.lines()]
        else:
            out = [(f"error: {outcome.line()}" if outcome.status != "ok" else outcome.line(), outcome.status != "ok")
                   for outcome in self.run.accounts]
            if self.run.models_summary:
                out.append((self.run.models_summary, False))
            if self.run.models_error and self.run.failed:  # exit 1 then: the models line too; else exit 4 says it
                out.append((f"error: models: {self.run.models_error}", True))
            out.append((self.run.summary_line(), False))
        if self.failed_accounts and self.failure is not None:  # exit 1: the alerts' failure as a line
            out.append((f"error: {self.failure}", True))
        return [*out, *((line, False) for line in alerts)]


def load_all(
    subdomains: Sequence[str],
    source_args: dict[str, Any],
    options: LoadOptions,
    alerts: AlertsRequest | None = None,
) -> LoadCommandResult:
    """`zendesk-audit load`: choose the accounts (`--subdomain`, else the configured list), load
    one or each, then the alerts when asked.

    Raises:
        ConfigurationError: a bad option (nothing written); `--alerts` without the models.
        ZendeskAuditError: a single account's load failed (several: recorded, exit 1).
    """
    if alerts is not None and not options.build_models:
        raise ConfigurationError("--alerts reads the models: leave out --no-models")
    accounts = choose_accounts(subdomains)
    args = dict(source_args)
    failure: AfterLoadError | None = None
    run: LoadResult | AccountsResult
    if len(accounts) > 1:
        run, failure = load_accounts(accounts, args, options)
        if run.failed:  # exit 1 then, the models' failure a line of the summary
            failure = None
        committed = bool(run.loaded)
    else:
        if accounts:
            args["subdomain"] = accounts[0]
        try:
            run = load_one_account(args, options)
        except AfterLoadError as exc:
            run, failure = exc.result, exc
        committed = True
    outcome = LoadCommandResult(run, accounts, failure)
    if alerts is not None and committed and failure is None:
        found = alerts_after_load(run, options, alerts.min_severity, alerts.webhook)
        outcome.alerts, outcome.failure = found.alerts, found.failure
    return outcome


def account_cursors(
    subdomains: Sequence[str] = (),
    destination: str | None = None,
    dataset_name: str = DEFAULT_DATASET_NAME,
    duckdb_path: str = DEFAULT_DUCKDB_PATH,
    start: str | None = None,
    lag_seconds: int | None = None,
    repair: bool = False,
    wait_for_lock: float = 0.0,
    now: datetime | None = None,
) -> list[CursorReport]:
    """Each account's cursor against the settled end, as `load` with the same options would see it:
    what `zendesk-audit status` shows, and with `repair` what `zendesk-audit repair-cursor` does.

    The accounts are chosen as `load` chooses them (hence the same pipelines and state); each one's
    state is restored from the destination under the load lock, so no load runs meanwhile.

    Args:
        subdomains: `--subdomain` values (none: the configured account or list).
        start, lag_seconds: as for `load` (none: from config); `start` is where a repaired cursor
            goes when the account has no record loaded.
        repair: move a cursor that is later than now - lag back (see `cursor.repair_cursor`).

    Raises:
        ConfigurationError: a bad option, or a start later than now - lag.
        ZendeskAuditError: the destination cannot be read or written, or a load holds the lock.

    Example:
        >>> report = account_cursors(["acme"], repair=True)[0]
        >>> report.repaired_from, report.cursor == report.latest_loaded
        (datetime.datetime(2030, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), True)
    """
    check_config_files()
    accounts = choose_accounts(subdomains)
    several = len(accounts) > 1
    moment = now or datetime.now(timezone.utc)
    reports = []
    for given in accounts if several else [accounts[0] if accounts else None]:
        options = configured_options(subdomain=given, start=start, lag_seconds=lag_seconds, end=None)
        settled = settled_end(options.lag_seconds, moment)
        check_start(options.start, settled)
        name = pipeline_name_for(options.subdomain) if several or destination == "ducklake" else DEFAULT_PIPELINE_NAME
        if destination in (None, "duckdb") and not os.path.exists(duckdb_path):
            full_name = dlt_pipeline_name(name, destination, dataset_name, duckdb_path)
            reports.append(CursorReport(options.subdomain, full_name, None, settled))  # nothing loaded, nothing created
            continue
        pipeline = create_pipeline(destination, dataset_name, duckdb_path, pipeline_name=name)
        with write_lock(pipeline, wait_for_lock, "repair-cursor" if repair else "status", keep_file_open=False):
            if repair:
                report = repair_cursor(pipeline, options.subdomain, options.start, settled)
            else:
                report = read_cursor(pipeline, options.subdomain, settled)
        report.repair = repair_command(
            accounts if several else [options.subdomain], destination, dataset_name, duckdb_path, start, lag_seconds
        )
        reports.append(report)
    return reports
