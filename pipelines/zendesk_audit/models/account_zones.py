"""Each account's time zone as the built models use it, for `models status`, the alerts and the report.

The load chooses and records the zone (`time_zones`); this reads back what the models used, with
the reason and the fix when local times fell back to UTC.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from zendesk_audit.models.warehouse import sql_literal
from zendesk_audit.time_zones import NO_ACCOUNT_ROW, UTC_FALLBACK

if TYPE_CHECKING:
    from zendesk_audit.models.warehouse import DltSqlEngine


@dataclass(frozen=True)
class AccountTimeZone:
    """What the built models use for one account, as `models status`, alerts and the report show it."""

    subdomain: str
    time_zone: str
    time_zone_source: str
    time_zone_reason: str | None = None

    def line(self) -> str:
        """`acme: local times in UTC (utc_fallback): <why>; fix: <two ways>`."""
        text = f"{self.subdomain}: local times in {self.time_zone} ({self.time_zone_source})"
        return text + (f": {self.time_zone_reason}" if self.time_zone_reason else "")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def account_time_zones(engine: DltSqlEngine, dataset: str, subdomain: str | None = None) -> list[AccountTimeZone]:
    """Each account's zone as the built models use it (from `stg_audit_logs`), with the fallback reasons.

    Empty when the models are not built, or were built by a version without `time_zone_source`.
    """
    from zendesk_audit.models.build import models_schema_name

    schema = models_schema_name(dataset)
    if "time_zone_source" not in engine.columns(schema, "stg_audit_logs"):
        return []
    view = engine.relation(schema, "stg_audit_logs")
    where = f" where subdomain = {sql_literal(subdomain)}" if subdomain else ""
    rows = engine.query(
        f"select subdomain, time_zone, time_zone_source from {view}{where} group by subdomain, time_zone, "
        "time_zone_source order by subdomain"
    )
    reasons: dict[str, str] = {}
    if any(source == UTC_FALLBACK for _, _, source in rows) and "time_zone_reason" in engine.columns(dataset, "accounts"):
        reasons = {
            str(name): str(reason)
            for name, reason in engine.query(f"select subdomain, time_zone_reason from {engine.relation(dataset, 'accounts')}")
            if reason
        }
    return [
        AccountTimeZone(
            str(name), str(zone), str(source), (reasons.get(str(name)) or NO_ACCOUNT_ROW) if source == UTC_FALLBACK else None
        )
        for name, zone, source in rows
    ]


def summary(zones: list[AccountTimeZone]) -> str:
    """`local times: acme Europe/Paris (account_settings), beta UTC (utc_fallback)`, or '' for none."""
    if not zones:
        return ""
    return "local times: " + ", ".join(f"{zone.subdomain} {zone.time_zone} ({zone.time_zone_source})" for zone in zones)


def fallback_warnings(zones: list[AccountTimeZone]) -> list[str]:
    """One line per account whose local times fell back to UTC, with why and how to fix it."""
    return [
        f"local times for {zone.subdomain} are in UTC, not the account's time zone: {zone.time_zone_reason}"
        for zone in zones
        if zone.time_zone_source == UTC_FALLBACK
    ]
