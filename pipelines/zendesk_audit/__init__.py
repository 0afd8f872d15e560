"""Load the Zendesk audit log into DuckDB or any dlt destination, exactly once."""
from zendesk_audit.client import RequestStats, ZendeskClient
from zendesk_audit.credentials import ZendeskCredentials
from zendesk_audit.errors import ZendeskAuditError
from zendesk_audit.pipeline import LoadResult, create_pipeline, load_account, run_load
from zendesk_audit.source import zendesk_audit_source

__all__ = [
    "LoadResult",
    "RequestStats",
    "ZendeskAuditError",
    "ZendeskClient",
    "ZendeskCredentials",
    "create_pipeline",
    "load_account",
    "run_load",
    "zendesk_audit_source",
]
