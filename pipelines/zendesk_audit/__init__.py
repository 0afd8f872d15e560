"""Load the Zendesk audit log into DuckDB or any dlt destination, exactly once.

The names below are imported when first used, so that importing the package (the CLI does)
starts neither dlt's pipeline machinery nor pyarrow before the command decides what it needs.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoadResult": "zendesk_audit.api_load",
    "RequestStats": "zendesk_audit.stats",
    "ZendeskAuditError": "zendesk_audit.errors",
    "ZendeskClient": "zendesk_audit.client",
    "ZendeskCredentials": "zendesk_audit.credentials",
    "create_pipeline": "zendesk_audit.pipeline",
    "load_account": "zendesk_audit.api_load",
    "run_load": "zendesk_audit.api_load",
    "zendesk_audit_source": "zendesk_audit.source",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zendesk_audit' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
