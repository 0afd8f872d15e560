"""Load the Zendesk audit log into DuckDB or any dlt destination, exactly once."""
import os

# Before pyarrow starts: its default pool (jemalloc/mimalloc) keeps freed buffers, so a long load's
# memory creeps up; the system allocator hands them back (measured: -55 MB at 100,000 records).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

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
