"""Ask Zendesk to e-mail an audit-log CSV: `POST /api/v2/audit_logs/export`, one per minute per account.

Zendesk answers 202 with a `null` body and e-mails the CSV to the user whose credentials asked;
the filters go in the query string, exactly as for the list endpoint. Inside the minute it answers
429 with `Zendesk-RateLimit-audit-logs-export: total=1; remaining=0; resets=NN` (and, sometimes,
`Retry-After`). The client's retry loop would quietly sleep through that 429 like any other, so
the response hook below turns a 429 on the export path into `ExportRateLimited` before the retry
loop sees it: the caller then waits (`--wait`) or tells the user when to retry. Every other answer
(401, 403, 5xx, OAuth token renewal) goes through `ZendeskClient.request_json` unchanged.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
import urllib3
from dlt.common.configuration import with_config
from dlt.common.configuration.specs import known_sections

from zendesk_audit.errors import ExportRateLimited
from zendesk_audit.extract.options import SourceOptions, resolve_options
from zendesk_audit.settings import AUDIT_LOGS_PATH, DEFAULT_LAG_SECONDS, TIME_FORMAT
from zendesk_audit.zendesk_api.credentials import API_TOKEN_WARNING, ZendeskCredentials

logger = logging.getLogger("zendesk_audit")

EXPORT_PATH = f"{AUDIT_LOGS_PATH}/export"
EXPORT_LIMIT_HEADER = "Zendesk-RateLimit-audit-logs-export"
# Zendesk's stated limit: one export per minute per account.
EXPORT_WINDOW_SECONDS = 60.0
DEFAULT_MAX_WAIT_SECONDS = 300.0
_RESETS = re.compile(r"resets\s*=\s*([0-9.]+)", re.IGNORECASE)


def export_retry_seconds(headers: Any) -> float:
    """Seconds until the next export is allowed: the export header's `resets`, else Retry-After, else 60."""
    match = _RESETS.search(headers.get(EXPORT_LIMIT_HEADER) or "")
    if match:
        return float(match.group(1))
    try:
        return max(0.0, float(headers.get("Retry-After")))
    except (TypeError, ValueError):
        return EXPORT_WINDOW_SECONDS


class _ExportWatch:
    """A response hook that keeps the last answer and hands an export 429 to the caller, not the retry loop."""

    def __init__(self) -> None:
        self.last_response: urllib3.BaseHTTPResponse | None = None

    def __call__(self, path: str, response: urllib3.BaseHTTPResponse) -> None:
        self.last_response = response
        if response.status == 429 and path.rstrip("/").endswith(EXPORT_PATH):
            seconds = export_retry_seconds(response.headers)
            raise ExportRateLimited(seconds, datetime.now(timezone.utc) + timedelta(seconds=seconds))


@dataclass
class ExportRequestResult:
    subdomain: str
    filters: dict[str, list[str]]
    waited_seconds: float
    next_export_in: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_line(self) -> str:
        shown = "; ".join(f"{name}={','.join(values)}" for name, values in self.filters.items()) or "none"
        waited = f" after waiting {self.waited_seconds:.0f} s" if self.waited_seconds else ""
        following = f"; the next export is possible in {self.next_export_in:.0f} s" if self.next_export_in else ""
        return (
            f"export requested for {self.subdomain}{waited} (filters: {shown}): Zendesk e-mails the CSV to the "
            f"user these credentials belong to; import it with zendesk-audit import-csv FILE --subdomain {self.subdomain}"
            f"{following}"
        )


def export_params(options: SourceOptions, start: Any, end: Any) -> dict[str, Any]:
    """The query string: the list endpoint's filters, plus the time range when one is given."""
    params: dict[str, Any] = {}
    if start or end:
        end_at = options.end or datetime.now(timezone.utc).replace(microsecond=0)
        params["filter[created_at][]"] = [options.start.strftime(TIME_FORMAT), end_at.strftime(TIME_FORMAT)]
    for name, values in options.filters().items():
        params[f"filter[{name}][]"] = [str(value) for value in values]
    return params


@with_config(sections=(known_sections.SOURCES, "zendesk_audit"))
def _connector_config(
    subdomain: str | None = dlt.config.value,
    base_url: str | None = dlt.config.value,
    credentials: ZendeskCredentials = dlt.secrets.value,
) -> tuple[str | None, str | None, ZendeskCredentials]:
    """subdomain, base_url and credentials resolved as `zendesk_audit_source` resolves them."""
    return subdomain, base_url, credentials


def request_export(
    subdomain: str | None = None,
    base_url: str | None = None,
    credentials: ZendeskCredentials | None = None,
    start: str | None = None,
    end: str | None = None,
    actions: Sequence[str] | None = None,
    actor_ids: Sequence[Any] | None = None,
    source_types: Sequence[str] | None = None,
    source_ids: Sequence[Any] | None = None,
    ip_addresses: Sequence[str] | None = None,
    wait: bool = False,
    max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> ExportRequestResult:
    """POST the export request with the filters; on the per-minute limit wait (`wait`) or raise.

    Settings not given come from dlt config like the load's: `sources.zendesk_audit.subdomain`,
    `base_url`, `credentials`, or, for an account of a multi-account config,
    `sources.zendesk_audit.accounts.<subdomain>.base_url` and `.credentials`.

    Raises:
        ExportRateLimited: inside the minute and `wait` is off, or the wait would pass `max_wait`.
        ConfigurationError: a bad option; nothing was sent.

    Example:
        >>> request_export(subdomain="acme", start="2024-01-01", actions=["update"]).summary_line()
    """
    from zendesk_audit.load.accounts import account_credentials, configured_subdomains
    from zendesk_audit.zendesk_api.client import ZendeskClient

    if subdomain and (subdomain in configured_subdomains() or account_credentials(subdomain) is not None):
        from zendesk_audit.load.accounts import account_source_args

        per_account = account_source_args(subdomain, {})
        base_url = base_url or per_account["base_url"]
        credentials = credentials or per_account.get("credentials")
    given = {"subdomain": subdomain, "base_url": base_url, "credentials": credentials}
    configured_subdomain, configured_base_url, configured_credentials = _connector_config(
        **{name: value for name, value in given.items() if value is not None}
    )
    options = resolve_options(
        subdomain=configured_subdomain,
        base_url=configured_base_url,
        start=start,
        end=end,
        lag_seconds=DEFAULT_LAG_SECONDS,
        actions=actions,
        actor_ids=actor_ids,
        source_types=source_types,
        source_ids=source_ids,
        ip_addresses=ip_addresses,
    )
    params = export_params(options, start, end)
    watch = _ExportWatch()
    client = ZendeskClient(options.base_url, configured_credentials, on_response=watch)
    if client.auth_mode == "api_token":
        logger.warning(API_TOKEN_WARNING)
    waited = 0.0
    while True:
        try:
            client.request_json("POST", EXPORT_PATH, params=params)
            break
        except ExportRateLimited as limited:
            if not wait or waited + limited.retry_after > max_wait:
                raise
            logger.warning("export limit: waiting %.0f s for the next minute", limited.retry_after)
            sleep(limited.retry_after + 0.5)
            waited += limited.retry_after + 0.5
    answer = watch.last_response
    next_in = export_retry_seconds(answer.headers) if answer is not None and EXPORT_LIMIT_HEADER in answer.headers else None
    return ExportRequestResult(
        subdomain=options.subdomain,
        filters={name: [str(value) for value in values] for name, values in params.items()},
        waited_seconds=round(waited, 1),
        next_export_in=next_in,
    )
