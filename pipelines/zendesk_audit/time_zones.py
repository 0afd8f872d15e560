"""The time zone of local times: chosen once per load, recorded in `accounts`, shown back everywhere.

Off-hours answers are only as right as the time zone behind them, so the choice is never silent.
A load picks, per account, the first of:

1. `configured`: `zendesk-audit load --time-zone`, then
   `sources.zendesk_audit.accounts.<subdomain>.time_zone`, then `sources.zendesk_audit.time_zone`
   (`SOURCES__ZENDESK_AUDIT__TIME_ZONE`); the account settings are then not requested at all;
2. `account_settings`: `settings.localization.iana_time_zone` of `GET /api/v2/account/settings`;
3. `utc_fallback`: UTC, when the settings were refused (an OAuth token limited to `auditlogs:read`
   is, on the sandbox and probably on Zendesk), carry no zone, or name one the databases do not know.
   The reason, with the fix that fits the credential in use, goes to the warning and to
   `accounts.time_zone_reason`.

A zone must be one that Python's zoneinfo loads and DuckDB's ICU knows: `posixrules` loads in
Python but DuckDB refuses it, and a refused name only shows up later, when the alerts or the report
query the views. PostgreSQL knows every name both accept (tests/test_time_zones.py checks). A
configured name that fails is a configuration error; a name from the API falls back to UTC.

`models build --time-zone` (or `models.time_zone`) still overrides every account's zone at build
time; the models then report the source `configured` (see `stg_audit_logs.time_zone_source`).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zendesk_audit.errors import ConfigurationError, ScopeError, ZendeskAuditError

CONFIGURED = "configured"
ACCOUNT_SETTINGS = "account_settings"
UTC_FALLBACK = "utc_fallback"
UTC = "UTC"

# The scope the sandbox asks of OAuth tokens for the account settings; Zendesk documents none.
SETTINGS_SCOPE = "read"
SET_TIME_ZONE = (
    "set time_zone (zendesk-audit load --time-zone Europe/Paris, SOURCES__ZENDESK_AUDIT__TIME_ZONE, "
    "or sources.zendesk_audit.accounts.<subdomain>.time_zone)"
)
NO_ACCOUNT_ROW = (
    "no time zone was recorded for this account (records imported from a CSV, or loaded by a version "
    f"that did not record it); fix: run zendesk-audit load, or {SET_TIME_ZONE}"
)


@dataclass(frozen=True)
class TimeZoneChoice:
    """The zone local times use for one account, where it came from and, for a fallback, why."""

    time_zone: str
    source: str
    reason: str | None = None
    zendesk_name: str | None = None  # Zendesk's own name ("Paris"), when the settings were read

    def label(self) -> str:
        """`Europe/Paris (account_settings)`."""
        return f"{self.time_zone} ({self.source})"


@functools.lru_cache(maxsize=1)
def _duckdb_time_zones() -> frozenset[str] | None:
    """The names DuckDB's ICU accepts; None when ICU is not available (then only zoneinfo judges)."""
    import duckdb

    try:
        with duckdb.connect() as connection:
            return frozenset(row[0] for row in connection.execute("select name from pg_timezone_names()").fetchall())
    except duckdb.Error:
        return None


def known_time_zones() -> frozenset[str]:
    """Every name local times may use: DuckDB's that Python's zoneinfo loads too."""
    return frozenset(name for name in _duckdb_time_zones() or () if time_zone_problem(name) is None)


def time_zone_problem(name: str) -> str | None:
    """Why `name` cannot be used for local times (one clause), or None when it can."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "Python's zoneinfo does not know it"
    known = _duckdb_time_zones()
    if known is not None and name not in known:
        return "DuckDB does not know it"
    return None


def _suggestion(name: str) -> str:
    known = _duckdb_time_zones() or frozenset()
    folded = {zone.lower(): zone for zone in known}
    match = folded.get(name.lower())
    return f" (did you mean {match!r}?)" if match and match != name else ""


def check_time_zone(value: Any, setting: str) -> str | None:
    """A configured time zone, checked; None when it is not set (empty counts as not set).

    Raises:
        ConfigurationError: not a name that Python and the databases all know.
    """
    if value is None or not str(value).strip():
        return None
    name = str(value).strip()
    problem = time_zone_problem(name)
    if problem:
        raise ConfigurationError(
            f"unknown time zone {name!r} in {setting} ({problem}){_suggestion(name)}: use an IANA name such as "
            "Europe/Paris or America/New_York"
        )
    return name


def _missing_scope(error: ZendeskAuditError) -> str:
    found = re.search(r"scope '([^']+)'", str(error))
    return found.group(1) if found else SETTINGS_SCOPE


def refused_reason(auth_mode: str, error: ZendeskAuditError) -> str:
    """Why the settings were refused and the two fixes, for the credential in use.

    An API-token user is never told about OAuth scopes: tokens have none, the fix is an admin's token.
    """
    what = "Zendesk refused GET /api/v2/account/settings"
    if auth_mode == "api_token":
        return (
            f"{what} to this API-token user (403); fix: use the e-mail and API token of an admin "
            f"(account settings are for admins), or {SET_TIME_ZONE}"
        )
    if isinstance(error, ScopeError):
        scope = _missing_scope(error)
        if auth_mode == "client_credentials":
            return (
                f"{what}: the OAuth token lacks the scope {scope!r} (403); fix: allow the OAuth client the scope "
                f"{scope!r} and request it too (credentials scope = \"auditlogs:read {scope}\"), or {SET_TIME_ZONE}"
            )
        return (
            f"{what}: the access token lacks the scope {scope!r} (403); fix: use an access token granted the "
            f"scope {scope!r} as well, or {SET_TIME_ZONE}"
        )
    return (
        f"{what} to this OAuth token (403: its user may not read account settings); fix: authorize the OAuth "
        f"client as an admin, or {SET_TIME_ZONE}"
    )


def from_settings(settings: dict[str, Any]) -> TimeZoneChoice:
    """The choice from an account-settings answer: its IANA zone, or UTC with the reason."""
    localization = settings.get("localization") or {}
    zendesk_name = localization.get("time_zone")
    zendesk_name = str(zendesk_name) if zendesk_name is not None else None
    iana = str(localization.get("iana_time_zone") or "").strip()
    if not iana:
        reason = f"the account settings name no iana_time_zone; fix: {SET_TIME_ZONE}"
        return TimeZoneChoice(UTC, UTC_FALLBACK, reason, zendesk_name)
    problem = time_zone_problem(iana)
    if problem:
        reason = f"the account settings name the time zone {iana!r} and {problem}; fix: {SET_TIME_ZONE}"
        return TimeZoneChoice(UTC, UTC_FALLBACK, reason, zendesk_name)
    return TimeZoneChoice(iana, ACCOUNT_SETTINGS, None, zendesk_name)
