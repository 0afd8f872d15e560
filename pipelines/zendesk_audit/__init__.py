"""Load the Zendesk audit log into DuckDB or any dlt destination, exactly once.

The names below are imported when first used, so that importing the package (the CLI does)
starts neither dlt's pipeline machinery nor pyarrow before the command decides what it needs.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoadResult": "zendesk_audit.load.api_load",
    "RequestStats": "zendesk_audit.zendesk_api.stats",
    "ZendeskAuditError": "zendesk_audit.errors",
    "ZendeskClient": "zendesk_audit.zendesk_api.client",
    "ZendeskCredentials": "zendesk_audit.zendesk_api.credentials",
    "create_pipeline": "zendesk_audit.load.pipeline",
    "load_account": "zendesk_audit.load.api_load",
    "run_load": "zendesk_audit.load.api_load",
    "zendesk_audit_source": "zendesk_audit.extract.source",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zendesk_audit' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
