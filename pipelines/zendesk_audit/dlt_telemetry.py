"""dlt's anonymous telemetry off in every process that runs our commands or library entry points,
unless the user turned it on.

dlt starts its tracker (`runtime.dlthub_telemetry`, on by default) when it first reads its
configuration, before any setting of ours can be given to it; the tracker then reports every
pipeline step to dlt's telemetry host. A tool that handles an organisation's audit log must not
contact anything it was not asked to, so the tracker is stopped here, unless the user set the
value (environment `RUNTIME__DLTHUB_TELEMETRY`, `.dlt/*.toml` under `[runtime]`): an explicit
choice is theirs, as every other setting is. `load.dlt_settings` also answers the setting with
`false` for dlt's own later lookups.
"""
from __future__ import annotations

from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
from dlt.common.runtime import anon_tracker

OUR_PROVIDERS_PREFIX = "zendesk-audit"


def user_choice() -> bool | None:
    """What the user set for `runtime.dlthub_telemetry` in any provider but ours; None: not set."""
    for provider in Container()[PluggableRunContext].providers.providers:
        if provider.name.startswith(OUR_PROVIDERS_PREFIX):
            continue
        value, _ = provider.get_value("dlthub_telemetry", bool, None, "runtime")
        if value is not None:
            return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes", "on")
    return None


def telemetry_off_unless_asked() -> None:
    """Stop dlt's tracker if it runs and the user did not turn it on."""
    if anon_tracker._ANON_TRACKER_ENDPOINT is None:
        return  # not running
    if not user_choice():
        anon_tracker.disable_anon_tracker()
