"""Constants about Zendesk's audit-log API and our defaults. No logic."""
from __future__ import annotations

from pathlib import Path

AUDIT_LOGS_PATH = "/api/v2/audit_logs"
ACCOUNT_SETTINGS_PATH = "/api/v2/account/settings"
OAUTH_TOKENS_PATH = "/oauth/tokens"
# Answers 200 on every Zendesk account, whatever the plan (anonymous user without credentials):
# a probe that tells "this host is a Zendesk account" from "no account here".
USERS_ME_PATH = "/api/v2/users/me"

PAGE_SIZE = 100
SORT_OLDEST_FIRST = "created_at"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Zendesk is eventually consistent: a record can appear minutes after its created_at.
DEFAULT_LAG_SECONDS = 300
# Older than any Zendesk account: "the whole history".
DEFAULT_START = "2007-01-01T00:00:00Z"

DEFAULT_PIPELINE_NAME = "zendesk_audit"
DEFAULT_DATASET_NAME = "zendesk_audit"
# Not zendesk_audit.duckdb: DuckDB cannot tell a catalog from a schema of the same name.
DEFAULT_DUCKDB_PATH = "zendesk.duckdb"
# `zendesk-audit demo` writes here (`make clean` removes it).
DEMO_DUCKDB_PATH = "zendesk_demo.duckdb"

DEFAULT_OAUTH_SCOPE = "auditlogs:read"
# Renew an OAuth token this long before Zendesk says it expires.
TOKEN_RENEW_MARGIN_SECONDS = 60
# Zendesk's bounds for `expires_in` on a client-credentials grant, seconds (5 minutes to 2 days).
OAUTH_EXPIRES_IN_MIN = 300
OAUTH_EXPIRES_IN_MAX = 172_800
# Zendesk retires API tokens: idle ones deactivated, then none created, then all off.
API_TOKEN_IDLE_DEACTIVATION = "2026-07-28"
API_TOKEN_NO_NEW = "2026-10-27"
API_TOKEN_SUNSET = "2027-04-30"

# A load commits after about this many pages or seconds of fetching, whichever comes first: a
# killed backfill re-fetches at most that (a minute of Zendesk's budget, about 350 pages at the
# default share), and a fast one is not slowed by a commit every few thousand records: each commit
# costs a dlt run and a DuckDB checkpoint (about 1 s), so the page cap only matters on the sandbox.
DEFAULT_CHUNK_PAGES = 10_000
DEFAULT_CHUNK_SECONDS = 60.0

# A backfill is split into windows of about this many records, fetched concurrently (windows.py).
DEFAULT_WINDOW_RECORDS = 5_000
# Requests in flight at most: 2,500 a minute at 400 ms need 17, 25 with auto_workers' headroom.
MAX_WORKERS = 32

KNOWN_ACTIONS = ("create", "update", "destroy", "login", "exported")

# Retries: bounded exponential backoff.
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 60.0
# The longest single wait a server may impose (Retry-After, ratelimit-reset). Zendesk's windows are
# a minute long; an answer asking for more is broken or hostile, and the load fails in one line
# naming the header rather than hang. Settable per load as `max_wait_seconds`.
DEFAULT_MAX_WAIT_SECONDS = 300.0
# The most one answer may weigh once decompressed: a 100-record page is about 60 KB, so this only
# stops a compression bomb (a few KB of gzip that inflate to gigabytes) long before memory runs out.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0
# The longest one whole answer (headers and body) may take, on every HTTP call: read timeouts are
# per socket read, so a server trickling a byte a second would otherwise never be cut off. A
# 100-record page takes well under a few seconds. Settable per load as `max_answer_seconds`.
DEFAULT_MAX_ANSWER_SECONDS = 120.0
# Progress guards. Pages in a row that bring no new record (no later created_at, no new id in
# the newest second) while saying `has_more`: a stuck or hostile pagination, stopped in one line.
DEFAULT_MAX_IDLE_PAGES = 10
# Records one run may reject into audit_logs_rejected, and their raw JSON's total size: past
# either, the answers are broken rather than holding a few bad records, and the run stops.
DEFAULT_MAX_REJECTED_RECORDS = 10_000
DEFAULT_MAX_REJECTED_MB = 64
# Share of the account's rate limit a load may use: the rest stays for other integrations.
DEFAULT_RATE_LIMIT_SHARE = 0.5

# Destinations that load Parquet natively; others keep dlt's preferred format (e.g. Postgres
# loads Parquet only through an extra ADBC driver).
PARQUET_DESTINATIONS = frozenset(
    {"duckdb", "motherduck", "ducklake", "filesystem", "iceberg", "snowflake", "bigquery", "databricks", "athena"}
)

# The dbt project of the SQL models shipped with the package: `zendesk_audit/_sql` in an installed
# wheel (pyproject maps the repository's `sql/` there), else the checkout's `sql/` beside
# `pipelines/` (a checkout or an editable install: an edit there needs no reinstall).
_PACKAGE_DIR = Path(__file__).resolve().parent
SQL_DIR = _PACKAGE_DIR / "_sql" if (_PACKAGE_DIR / "_sql").is_dir() else _PACKAGE_DIR.parents[1] / "sql"
