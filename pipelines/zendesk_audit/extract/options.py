"""Validate the source's options once, up front, so a bad value fails before any request or write."""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.settings import (
    DEFAULT_LAG_SECONDS,
    DEFAULT_MAX_ANSWER_SECONDS,
    DEFAULT_MAX_IDLE_PAGES,
    DEFAULT_MAX_REJECTED_MB,
    DEFAULT_MAX_REJECTED_RECORDS,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_RATE_LIMIT_SHARE,
    DEFAULT_START,
    DEFAULT_WINDOW_RECORDS,
    KNOWN_ACTIONS,
    MAX_WORKERS,
    TIME_FORMAT,
)
from zendesk_audit.time_zones import check_time_zone
from zendesk_audit.times import parse_utc
from zendesk_audit.zendesk_api.transport import is_loopback

_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
_SOURCE_TYPE = re.compile(r"^[a-z0-9_][a-z0-9_/.-]*$", re.IGNORECASE)


@dataclass(frozen=True)
class SourceOptions:
    subdomain: str
    base_url: str
    start: datetime
    end: datetime | None
    lag_seconds: int
    rate_limit_share: float = DEFAULT_RATE_LIMIT_SHARE
    workers: int | None = None
    window_records: int = DEFAULT_WINDOW_RECORDS
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    max_answer_seconds: float = DEFAULT_MAX_ANSWER_SECONDS
    max_idle_pages: int = DEFAULT_MAX_IDLE_PAGES
    max_rejected_records: int = DEFAULT_MAX_REJECTED_RECORDS
    max_rejected_mb: int = DEFAULT_MAX_REJECTED_MB
    actions: tuple[str, ...] = ()
    actor_ids: tuple[int, ...] = ()
    source_types: tuple[str, ...] = ()
    source_ids: tuple[int, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    # The configured time zone for local times (None: the account settings', else UTC).
    time_zone: str | None = None

    def filters(self) -> dict[str, tuple[Any, ...]]:
        """Zendesk's filter names with the values to send (empty ones left out)."""
        named = {
            "action": self.actions,
            "actor_id": self.actor_ids,
            "source_type": self.source_types,
            "source_id": self.source_ids,
            "ip_address": self.ip_addresses,
        }
        return {name: values for name, values in named.items() if values}


def parse_time(value: Any, name: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime; a bare date means its midnight UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = parse_utc(str(value))
        except ValueError:
            raise ConfigurationError(
                f"{name} {value!r} is not an ISO-8601 time: use e.g. 2024-01-31 or 2024-01-31T12:00:00Z"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).replace(microsecond=0)


def settled_end(lag_seconds: int, now: datetime) -> datetime:
    """`now - lag`, to the second: no load reads past it, so no cursor may pass it."""
    return now.astimezone(timezone.utc).replace(microsecond=0) - timedelta(seconds=lag_seconds)


def check_start(start: datetime, settled: datetime) -> None:
    """Refuse a start later than the settled end: the run would load nothing and, with no state
    yet, dlt would save that start as the cursor, so every later run would load nothing too.

    Raises:
        ConfigurationError: start is later than `settled` (now - lag).
    """
    if start > settled:
        raise ConfigurationError(
            f"start {start.strftime(TIME_FORMAT)} is later than now minus the lag ({settled.strftime(TIME_FORMAT)}): "
            "nothing there is settled yet; use a start in the past, e.g. --start 2024-01-01"
        )


def check_base_url(base_url: str) -> str:
    """A base URL we may send credentials to: https anywhere, plain http only on this machine."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"base_url {base_url!r} is not an http(s) URL: use e.g. https://acme.zendesk.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError("base_url must not hold credentials, a query or a fragment: put secrets in .dlt/secrets.toml")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ConfigurationError(
            f"base_url {parts.scheme}://{parts.netloc} is plain http to a remote host: use https "
            "(http is only allowed to a loopback address such as the sandbox)"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def check_subdomain(subdomain: str) -> str:
    cleaned = subdomain.strip()
    if not _SUBDOMAIN.match(cleaned):
        raise ConfigurationError(
            f"subdomain {subdomain!r} is not a Zendesk subdomain: give only the account name, e.g. 'acme' "
            "for https://acme.zendesk.com (use base_url for a full address)"
        )
    return cleaned.lower()


def _subdomain_from(base_url: str) -> str | None:
    host = urlsplit(base_url).hostname or ""
    if host.endswith(".zendesk.com") and host.count(".") == 2:
        return host.split(".")[0]
    return None


def _as_tuple(values: Sequence[Any] | None | str | int) -> tuple[Any, ...]:
    if values is None:
        return ()
    if isinstance(values, (str, int)):
        values = [values]
    result: list[Any] = []
    for value in values:
        if isinstance(value, str):  # "a,b" from an env var or a CLI option is two values
            result.extend(part.strip() for part in value.split(","))
        else:
            result.append(value)
    return tuple(value for value in result if value != "")


def _as_ids(values: Sequence[Any] | None, name: str) -> tuple[int, ...]:
    ids = []
    for value in _as_tuple(values):
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name} {value!r} is not an integer id") from None
    return tuple(ids)


def _whole(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise ConfigurationError(f"{name} is {number}: use a number from {low} to {high}")
    return number


def resolve_options(
    *,
    subdomain: str | None,
    base_url: str | None,
    start: Any | None,
    end: Any | None,
    lag_seconds: Any,
    rate_limit_share: Any = DEFAULT_RATE_LIMIT_SHARE,
    workers: Any = None,
    window_records: Any = DEFAULT_WINDOW_RECORDS,
    max_wait_seconds: Any = DEFAULT_MAX_WAIT_SECONDS,
    max_answer_seconds: Any = DEFAULT_MAX_ANSWER_SECONDS,
    max_idle_pages: Any = DEFAULT_MAX_IDLE_PAGES,
    max_rejected_records: Any = DEFAULT_MAX_REJECTED_RECORDS,
    max_rejected_mb: Any = DEFAULT_MAX_REJECTED_MB,
    actions: Sequence[str] | None = None,
    actor_ids: Sequence[Any] | None = None,
    source_types: Sequence[str] | None = None,
    source_ids: Sequence[Any] | None = None,
    ip_addresses: Sequence[str] | None = None,
    time_zone: Any = None,
) -> SourceOptions:
    """Every option checked; the first problem raises ConfigurationError with its fix."""
    if base_url:
        base_url = check_base_url(base_url)
        subdomain = check_subdomain(subdomain) if subdomain else _subdomain_from(base_url)
        if not subdomain:
            raise ConfigurationError(
                "set subdomain as well as base_url: it labels every row (SOURCES__ZENDESK_AUDIT__SUBDOMAIN or --subdomain)"
            )
    elif subdomain:
        subdomain = check_subdomain(subdomain)
        base_url = f"https://{subdomain}.zendesk.com"
    else:
        raise ConfigurationError(
            "no Zendesk account: set SOURCES__ZENDESK_AUDIT__SUBDOMAIN (or subdomain in .dlt/config.toml, or --subdomain)"
        )
    try:
        lag = int(lag_seconds)
    except (TypeError, ValueError):
        raise ConfigurationError(f"lag_seconds {lag_seconds!r} is not a whole number of seconds") from None
    if lag < 0:
        raise ConfigurationError(f"lag_seconds is {lag}: it must be 0 or more (default 300)")
    try:
        share = float(rate_limit_share)
    except (TypeError, ValueError):
        raise ConfigurationError(f"rate_limit_share {rate_limit_share!r} is not a number between 0 and 1") from None
    if not 0 < share <= 1:
        raise ConfigurationError(
            f"rate_limit_share is {share}: use a share of the account's limit above 0 and at most 1 (default 0.5)"
        )
    worker_count = None if workers in (None, "", "auto") else _whole(workers, "workers", 1, MAX_WORKERS)
    window_size = _whole(window_records, "window_records", 100, 1_000_000)
    longest_wait = _whole(max_wait_seconds, "max_wait_seconds", 1, 86_400)
    answer_seconds = _whole(max_answer_seconds, "max_answer_seconds", 1, 3_600)
    idle_pages = _whole(max_idle_pages, "max_idle_pages", 1, 10_000)
    rejected_records = _whole(max_rejected_records, "max_rejected_records", 0, 100_000_000)
    rejected_mb = _whole(max_rejected_mb, "max_rejected_mb", 1, 100_000)
    start_at = parse_time(start if start else DEFAULT_START, "start")
    end_at = parse_time(end, "end") if end else None
    if end_at is not None and end_at <= start_at:
        raise ConfigurationError(f"start {start_at:%Y-%m-%dT%H:%M:%SZ} is not before end {end_at:%Y-%m-%dT%H:%M:%SZ}")
    action_values = tuple(str(a).lower() for a in _as_tuple(actions))
    unknown = [a for a in action_values if a not in KNOWN_ACTIONS]
    if unknown:
        raise ConfigurationError(f"unknown action {unknown[0]!r}: use one of {', '.join(KNOWN_ACTIONS)}")
    type_values = tuple(str(t) for t in _as_tuple(source_types))
    bad_types = [t for t in type_values if not _SOURCE_TYPE.match(t)]
    if bad_types:
        raise ConfigurationError(f"source_type {bad_types[0]!r} is not a Zendesk source type such as user or rule")
    id_values = _as_ids(source_ids, "source_id")
    if id_values and not type_values:
        raise ConfigurationError("source_id filters need a source_type too (Zendesk requires both)")
    ips = tuple(str(ip) for ip in _as_tuple(ip_addresses))
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ConfigurationError(f"ip_address {ip!r} is not an IP address") from None
    zone = check_time_zone(time_zone, f"time_zone for {subdomain}")
    return SourceOptions(
        subdomain=subdomain,
        base_url=base_url,
        start=start_at,
        end=end_at,
        lag_seconds=lag,
        rate_limit_share=share,
        workers=worker_count,
        window_records=window_size,
        max_wait_seconds=float(longest_wait),
        max_answer_seconds=float(answer_seconds),
        max_idle_pages=idle_pages,
        max_rejected_records=rejected_records,
        max_rejected_mb=rejected_mb,
        actions=action_values,
        actor_ids=_as_ids(actor_ids, "actor_id"),
        source_types=type_values,
        source_ids=id_values,
        ip_addresses=ips,
        time_zone=zone,
    )


_SECTION = "sources.zendesk_audit"


def configured_options(**given: Any) -> SourceOptions:
    """The options as `load` resolves them, for what runs without the source (status,
    repair-cursor, the checks before several accounts load): each given value, else
    `sources.zendesk_audit.<name>` from .dlt/config.toml or SOURCES__ZENDESK_AUDIT__<NAME>.

    Raises:
        ConfigurationError: as resolve_options.
    """
    import dlt

    names = ("subdomain", "base_url", "start", "end", "lag_seconds")
    values = {name: given.get(name) for name in names}
    for name in names:
        if values[name] in (None, ""):
            values[name] = dlt.config.get(f"{_SECTION}.{name}")
    if values["lag_seconds"] in (None, ""):
        values["lag_seconds"] = DEFAULT_LAG_SECONDS
    return resolve_options(**values)


def check_config_files(folder: str = ".dlt") -> None:
    """Refuse a config or secrets file that exists but cannot be read: dlt would skip it silently.

    Raises:
        ConfigurationError: the file is a folder or not readable.
    """
    for name in ("config.toml", "secrets.toml"):
        path = os.path.join(folder, name)
        if not os.path.lexists(path):
            continue
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read {path} ({exc.strerror or type(exc).__name__}): fix the file or its permissions"
            ) from None
