"""The dlt source `zendesk_audit`: resource `audit_logs` (incremental on created_at) and `accounts`.

The incremental window is pushed into the request as `filter[created_at][]=<start>&...=<end>`,
oldest first, so the cursor only ever moves forward through data Zendesk has settled:
- end = now - lag (Zendesk is eventually consistent); the cursor never passes it: a start later
  than it is refused, and so is a saved cursor later than it (see cursor.py);
- start = the cursor minus one second, because Zendesk does not say whether the start bound is
  inclusive; dlt's incremental drops what is older than the cursor and the ids it already saw in
  the cursor's second, and the merge on (subdomain, id) makes any repeat harmless.
The window is fetched as time windows sized from the data, several at once (windows.py), and
typed into Arrow tables (batches.py) that dlt writes to Parquet as they are.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from zendesk_audit.dlt_telemetry import telemetry_off_unless_asked
from zendesk_audit.errors import ApiError, PlanError, ScopeError
from zendesk_audit.extract.batches import (
    API_FIELDS,
    MAX_NESTING,
    extra_fields_problem,
    fast_table,
    json_text,
    nested_deeper_than,
    not_unicode,
    one_row_per_id,
    to_arrow,
    with_row_ids,
)
from zendesk_audit.extract.cursor import check_saved_cursor, saved_cursor
from zendesk_audit.extract.options import SourceOptions, check_start, resolve_options, settled_end
from zendesk_audit.extract.windows import OutsideRequest, fetch_windows
from zendesk_audit.settings import (
    DEFAULT_LAG_SECONDS,
    DEFAULT_MAX_ANSWER_SECONDS,
    DEFAULT_MAX_IDLE_PAGES,
    DEFAULT_MAX_REJECTED_MB,
    DEFAULT_MAX_REJECTED_RECORDS,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_RATE_LIMIT_SHARE,
    DEFAULT_WINDOW_RECORDS,
    PAGE_SIZE,
    SORT_OLDEST_FIRST,
    TIME_FORMAT,
)
from zendesk_audit.time_zones import (
    CONFIGURED,
    UTC,
    UTC_FALLBACK,
    TimeZoneChoice,
    from_settings,
    refused_reason,
)
from zendesk_audit.times import parse_utc
from zendesk_audit.zendesk_api.client import ZendeskClient
from zendesk_audit.zendesk_api.credentials import API_TOKEN_WARNING, ZendeskCredentials
from zendesk_audit.zendesk_api.decoding import escaped
from zendesk_audit.zendesk_api.stats import RequestStats

logger = logging.getLogger("zendesk_audit")


def _column(data_type: str, nullable: bool = True, **extra: Any) -> dict[str, Any]:
    """A fresh hint dict per column: dlt writes each column's name into its hint."""
    return {"data_type": data_type, "nullable": nullable, **extra}


AUDIT_LOG_COLUMNS: dict[str, dict[str, Any]] = {
    "id": _column("bigint", nullable=False),
    "subdomain": _column("text", nullable=False),
    "created_at": _column("timestamp", nullable=False, timezone=True),
    "action": _column("text"),
    "action_label": _column("text"),
    "actor_id": _column("bigint"),
    "actor_name": _column("text"),
    "ip_address": _column("text"),
    "source_id": _column("bigint"),
    "source_type": _column("text"),
    "source_label": _column("text"),
    "change_description": _column("text"),
    "url": _column("text"),
    # "api" or "csv" (an Admin Center export imported with `zendesk-audit import-csv`).
    "_source": _column("text", nullable=False),
    # Fields outside the twelve above, as one JSON object (see batches.py for why not a column each).
    "extra_fields": _column("text"),
}
ACCOUNT_COLUMNS: dict[str, dict[str, Any]] = {
    "subdomain": _column("text", nullable=False),
    "time_zone": _column("text"),
    # The IANA zone local times use: configured, the account settings', or UTC (see time_zones.py).
    "iana_time_zone": _column("text"),
    "time_zone_source": _column("text"),  # configured, account_settings or utc_fallback
    "time_zone_reason": _column("text"),  # for utc_fallback: why, and the two ways to fix it
    "loaded_at": _column("timestamp", nullable=False, timezone=True),
}
REJECTED_TABLE = "audit_logs_rejected"
REJECTED_COLUMNS: dict[str, dict[str, Any]] = {
    "reject_key": _column("text", nullable=False),
    "subdomain": _column("text", nullable=False),
    "audit_log_id": _column("text"),
    "reason": _column("text", nullable=False),
    "raw_json": _column("text", nullable=False),
    "rejected_at": _column("timestamp", nullable=False, timezone=True),
}
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


_INTEGER_FIELDS = ("actor_id", "source_id")
_INT64 = range(-(1 << 63), 1 << 63)
_TEXT_FIELDS = tuple(name for name, hint in AUDIT_LOG_COLUMNS.items() if hint["data_type"] == "text" and name in API_FIELDS)


def rejection_reason(record: Any) -> str | None:
    """Why a record cannot become an `audit_logs` row, or None when it can.

    Checked during extraction so that a bad record neither stops the run nor reaches a typed
    column: it goes to `audit_logs_rejected` with its raw JSON instead.
    """
    if not isinstance(record, dict):
        return f"not a JSON object: {type(record).__name__}"
    problem = not_unicode(record)
    if problem is not None:
        return problem
    for name, value in record.items():
        if isinstance(value, (dict, list)) and nested_deeper_than(value):
            return f"field {name[:60]!r} is nested more than {MAX_NESTING} levels deep"
    problem = extra_fields_problem(record)
    if problem is not None:
        return problem
    raw_id, raw_created_at = record.get("id"), record.get("created_at")
    if raw_id is None:
        return "no id"
    problem = _integer_problem("id", raw_id)
    if problem is not None:
        return problem
    if raw_created_at is None:
        return "no created_at"
    try:
        parse_utc(raw_created_at)
    except ValueError:
        return f"created_at {_short(raw_created_at)} is not an ISO-8601 time"
    for name in _INTEGER_FIELDS:
        problem = _integer_problem(name, record.get(name))
        if problem is not None:
            return problem
    if "change_description" not in record and "changes_description" in record:
        record["change_description"] = record.pop("changes_description")
    for name in _TEXT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} {_short(value)} is not text"
    return None


def _integer_problem(name: str, value: Any) -> str | None:
    """Why `value` cannot go into a BIGINT column (None also can: the column is nullable)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} {_short(value)} is not an integer"
    if value not in _INT64:
        return f"{name} {value} is outside the 64-bit integer range"
    return None


def _short(value: Any) -> str:
    return repr(value)[:60]


def prepare_record(record: dict[str, Any], subdomain: str) -> dict[str, Any]:
    """Make one valid API record a row: typed UTC cursor and the account label."""
    record["created_at"] = parse_utc(record["created_at"])
    record["subdomain"] = subdomain
    record["_source"] = "api"
    return record


def rejected_row(record: Any, subdomain: str, reason: str, rejected_at: datetime) -> dict[str, Any]:
    """The raw record, kept whole; keyed by its content so a re-read adds nothing."""
    raw_json = json_text(record)
    raw_id = record.get("id") if isinstance(record, dict) else None
    return {
        "reject_key": hashlib.sha256(f"{subdomain}|{raw_json}".encode()).hexdigest(),
        "subdomain": subdomain,
        "audit_log_id": None if raw_id is None else escaped(str(raw_id)),
        "reason": reason,
        "raw_json": raw_json,
        "rejected_at": rejected_at,
    }


def split_records(records: list[Any], subdomain: str, clock: Clock) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows for audit_logs, rows for audit_logs_rejected) from a window's records, one by one."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for record in records:
        if isinstance(record, OutsideRequest):
            rejected.append(rejected_row(record.record, subdomain, record.reason, clock()))
            continue
        reason = rejection_reason(record)
        if reason is None:
            rows.append(prepare_record(record, subdomain))
        else:
            rejected.append(rejected_row(record, subdomain, reason, clock()))
    return rows, rejected


def list_params(options: SourceOptions, start: datetime, end: datetime) -> dict[str, Any]:
    """The list request: oldest first, full pages, the window and the server-side filters."""
    params: dict[str, Any] = {
        "page[size]": PAGE_SIZE,
        "sort": SORT_OLDEST_FIRST,
        "filter[created_at][]": [start.strftime(TIME_FORMAT), end.strftime(TIME_FORMAT)],
    }
    for name, values in options.filters().items():
        params[f"filter[{name}][]"] = [str(value) for value in values]
    return params


@dataclass
class ChunkReport:
    """What one run of a source tells the load runner, which owns it (not a metric).

    `more`: the run stopped at its chunk limit with more to fetch; the runner commits, then runs
    the source again from the new cursor. `subdomain` and `time_zone`: the account, and the zone
    chosen for its local times, when `accounts` ran.
    """

    more: bool = False
    subdomain: str | None = None
    time_zone: TimeZoneChoice | None = None


def audit_logs_resource(
    client: ZendeskClient,
    options: SourceOptions,
    chunk_pages: int | None = None,
    chunk_seconds: float | None = None,
    clock: Clock = _utc_now,
    report: ChunkReport | None = None,
) -> DltResource:
    """Build `audit_logs` for one account; the window's bounds come from dlt's incremental state.

    The resource writes two tables: `audit_logs`, and `audit_logs_rejected` (a dlt table variant
    with its own hints) for records that cannot be typed. Rejected rows carry no created_at, so
    dlt's incremental lets them through without touching the cursor.

    A record Zendesk sends twice is loaded once, the latest by created_at, then the last read;
    `client.stats.duplicates` counts the copies left out. Inside one window `one_row_per_id`
    drops them. Windows hold different seconds, so the same id in two windows of one chunk has
    two created_at values: the chunk's tables have left already, so the end of the chunk counts
    such ids and, only then, asks the merge to deduplicate this package on the latest
    created_at (`_merge_keeps_latest`); every other chunk keeps the merge without that pass.
    """

    @dlt.resource(
        name="audit_logs",
        primary_key=("subdomain", "id"),
        # Tables come out with one row per id (batches.one_row_per_id): no dedup pass in staging.
        write_disposition={"disposition": "merge", "strategy": "delete-insert", "deduplicated": True},
    )
    def audit_logs(
        created_at: dlt.sources.incremental[datetime] = dlt.sources.incremental(
            "created_at", initial_value=options.start, end_value=options.end, on_cursor_value_missing="include"
        ),
    ) -> Iterator[Any]:
        _merge_keeps_latest(False)  # a previous chunk may have asked for it
        settled = settled_end(options.lag_seconds, clock())
        # Before any request: a saved cursor past the settled end (an older version's) is refused
        # even by a re-scan, which does not use it; and no run may start past the settled end,
        # because with no state yet dlt would save that start as the cursor.
        check_saved_cursor(saved_cursor(dlt.current.pipeline().state), settled, options.subdomain)
        check_start(created_at.start_value, settled)
        window_end = min(created_at.end_value, settled) if created_at.end_value else settled
        window_start = created_at.start_value - timedelta(seconds=1)
        if window_start >= window_end:
            return
        fetched_windows, more_to_fetch = fetch_windows(
            client,
            lambda low, high: list_params(options, low, high),
            window_start,
            window_end,
            workers=options.workers,
            window_records=options.window_records,
            max_records=chunk_pages * PAGE_SIZE if chunk_pages else None,
            max_seconds=chunk_seconds,
        )
        chunk_ids: list[pa.ChunkedArray] = []
        for records in fetched_windows:
            table = fast_table(records, options.subdomain)
            if table is None:  # something unexpected in this window: record by record
                rows, rejected = split_records(records, options.subdomain, clock)
                table = to_arrow(rows) if rows else None
                if rejected:
                    _count_rejected(client.stats, rejected, options)
                    logger.warning(
                        "%d audit log record(s) rejected into %s: %s",
                        len(rejected), REJECTED_TABLE, rejected[0]["reason"],
                    )
                    yield dlt.mark.with_table_name(rejected, REJECTED_TABLE)
            if table is not None:
                unique = one_row_per_id(table)
                if unique.num_rows < table.num_rows:
                    client.stats.add(duplicates=table.num_rows - unique.num_rows)
                chunk_ids.append(unique.column("id"))
                yield with_row_ids(unique)
        repeated = _repeated_ids(chunk_ids)
        if repeated:
            client.stats.add(duplicates=repeated, duplicates_in_package=repeated)
            _merge_keeps_latest(True)
        if more_to_fetch() and report is not None:
            # Let this run commit; the load runs the next chunk from the new cursor.
            report.more = True

    # The variant copies the resource's hints as they are now: give it its own before the columns.
    audit_logs.apply_hints(
        table_name=REJECTED_TABLE,
        primary_key="reject_key",
        write_disposition="merge",
        columns=REJECTED_COLUMNS,
        create_table_variant=True,
    )
    audit_logs.apply_hints(columns=AUDIT_LOG_COLUMNS)
    return audit_logs


def _count_rejected(stats: RequestStats, rejected: list[dict[str, Any]], options: SourceOptions) -> None:
    """Count the run's rejected records before they are written; past a bound, stop the run:
    answers that are mostly rejects are broken, and their files must not grow without end.

    Raises:
        ApiError: past `max_rejected_records` or `max_rejected_mb` in this run.
    """
    stats.add(rejected=len(rejected), rejected_bytes=sum(len(row["raw_json"]) for row in rejected))
    too_many = stats.rejected > options.max_rejected_records
    if too_many or stats.rejected_bytes > options.max_rejected_mb * 1024 * 1024:
        bound = (f"more than {options.max_rejected_records:,} records (max_rejected_records)" if too_many
                 else f"more than {options.max_rejected_mb:,} MB of records (max_rejected_mb)")
        raise ApiError(
            f"Zendesk's answers for {options.subdomain} held {bound} that had to be rejected in this run, the "
            f"last because {rejected[-1]['reason']}: the answers look broken, so the run stopped; nothing of this "
            "chunk was committed; check base_url and any proxy, or raise the bound if these records are real"
        )


def _repeated_ids(id_columns: list[pa.ChunkedArray]) -> int:
    """How many rows of the chunk repeat an id of an earlier window (one vectorized pass)."""
    if len(id_columns) < 2:
        return 0
    ids = pa.chunked_array([chunk for column in id_columns for chunk in column.chunks], pa.int64())
    return len(ids) - pc.count_distinct(ids).as_py()


def _merge_keeps_latest(enabled: bool) -> None:
    """Set, for the load package being extracted, whether the merge deduplicates `audit_logs`
    keeping the latest created_at, or takes its staged rows as unique (the fast default).

    Written into the source schema that dlt saves with the package, because dlt's hints only
    ever set this flag, never clear it; the next chunk clears it again before its first row.
    """
    table = dlt.current.source_schema().tables.get("audit_logs")
    if table is None:
        return
    created_at = table.get("columns", {}).get("created_at")
    table["x-stage-data-deduplicated"] = not enabled  # type: ignore[typeddict-unknown-key]
    if created_at is not None:
        if enabled:
            created_at["dedup_sort"] = "desc"
        else:
            created_at.pop("dedup_sort", None)


def choose_time_zone(client: ZendeskClient, options: SourceOptions) -> TimeZoneChoice:
    """The zone for local times: configured, else the account settings', else UTC with the reason.

    A configured zone is used without asking Zendesk: the settings need a scope that an OAuth client
    limited to `auditlogs:read` lacks, and setting `time_zone` is how such a client gets local times.
    """
    if options.time_zone:
        return TimeZoneChoice(options.time_zone, CONFIGURED)
    try:
        settings = client.account_settings().get("settings") or {}
    except (PlanError, ScopeError) as exc:
        return TimeZoneChoice(UTC, UTC_FALLBACK, refused_reason(client.auth_mode, exc))
    return from_settings(settings)


def accounts_resource(
    client: ZendeskClient,
    options: SourceOptions,
    clock: Clock = _utc_now,
    report: ChunkReport | None = None,
) -> DltResource:
    """`accounts`: one row per account, written on every load, with the zone the models use and its source."""

    @dlt.resource(name="accounts", primary_key="subdomain", write_disposition="merge", columns=ACCOUNT_COLUMNS)
    def accounts() -> Iterator[dict[str, Any]]:
        choice = choose_time_zone(client, options)
        if choice.source == UTC_FALLBACK:
            logger.warning("local times for %s will be in UTC: %s", options.subdomain, choice.reason)
        if report is not None:
            report.subdomain, report.time_zone = options.subdomain, choice
        yield {
            "subdomain": options.subdomain,
            "time_zone": choice.zendesk_name,
            "iana_time_zone": choice.time_zone,
            "time_zone_source": choice.source,
            "time_zone_reason": choice.reason,
            "loaded_at": clock(),
        }

    return accounts


@dlt.source(name="zendesk_audit", section="zendesk_audit", max_table_nesting=0)
def zendesk_audit_source(
    subdomain: str | None = dlt.config.value,
    credentials: ZendeskCredentials = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
    start: str | None = None,
    end: str | None = None,
    lag_seconds: int = DEFAULT_LAG_SECONDS,
    rate_limit_share: float = DEFAULT_RATE_LIMIT_SHARE,
    workers: int | None = None,
    window_records: int = DEFAULT_WINDOW_RECORDS,
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    max_answer_seconds: float = DEFAULT_MAX_ANSWER_SECONDS,
    max_idle_pages: int = DEFAULT_MAX_IDLE_PAGES,
    max_rejected_records: int = DEFAULT_MAX_REJECTED_RECORDS,
    max_rejected_mb: int = DEFAULT_MAX_REJECTED_MB,
    actions: Sequence[str] | None = None,
    actor_ids: Sequence[int] | None = None,
    source_types: Sequence[str] | None = None,
    source_ids: Sequence[int] | None = None,
    ip_addresses: Sequence[str] | None = None,
    time_zone: str | None = None,
    chunk_pages: int | None = None,
    chunk_seconds: float | None = None,
    stats: RequestStats | None = None,
    chunk_report: ChunkReport | None = None,
) -> list[DltResource]:
    """Zendesk's audit log for one account, loaded exactly once.

    Args:
        subdomain: the account, as in `https://{subdomain}.zendesk.com`; labels every row.
        credentials: API token, OAuth access token, or OAuth client credentials (exactly one).
        base_url: replaces `https://{subdomain}.zendesk.com` (the sandbox, a proxy).
        start: ISO time to start from when there is no state yet (default: the whole history); not
            later than now - lag_seconds (ConfigurationError).
        end: ISO time to stop at, for a bounded backfill; such a run leaves the cursor alone. An end
            later than now - lag_seconds reads up to now - lag_seconds.
        lag_seconds: how far behind now the window stops, for Zendesk's eventual consistency.
        rate_limit_share: the share of the account's rate limit this load may use (the rest is left
            to other integrations); requests are paced on Zendesk's rate-limit headers.
        workers: windows fetched at once (None: sized from the latency and the budget).
        window_records: about how many records one window holds (see `windows.py`).
        max_wait_seconds: the longest wait a Retry-After or ratelimit-reset header may impose; a
            longer one fails the run in one line naming the header instead of hanging it.
        max_answer_seconds: the longest one whole answer (headers and body) may take on any
            call; a slower one is cut off and retried, and after 3 the run fails in one line.
        max_idle_pages: pages in a row that bring no new record while Zendesk says more follow;
            past it the run fails in one line (a stuck or hostile pagination).
        max_rejected_records, max_rejected_mb: the most records, and raw JSON, one run sets aside
            into `audit_logs_rejected`; past either the run fails in one line.
        actions, actor_ids, source_types, source_ids, ip_addresses: server-side filters.
        time_zone: IANA zone for local times, instead of the account settings' (see time_zones.py).
        chunk_pages, chunk_seconds: stop, at a window boundary, after about this many pages or this
            many seconds and set `chunk_report.more`, so that a long backfill commits as it goes
            (the load runner runs chunk after chunk); None: no limit.
        stats: filled with request, retry and page counts while the load runs.
        chunk_report: told whether more remains after this run, and the time zone chosen.

    Example:
        >>> pipeline = dlt.pipeline("zendesk_audit", destination="duckdb", dataset_name="zendesk_audit")
        >>> pipeline.run(zendesk_audit_source(subdomain="acme"), loader_file_format="parquet")
    """
    telemetry_off_unless_asked()  # also in a pipeline of the user's own
    options = resolve_options(
        subdomain=subdomain,
        base_url=base_url,
        start=start,
        end=end,
        lag_seconds=lag_seconds,
        rate_limit_share=rate_limit_share,
        workers=workers,
        window_records=window_records,
        max_wait_seconds=max_wait_seconds,
        max_answer_seconds=max_answer_seconds,
        max_idle_pages=max_idle_pages,
        max_rejected_records=max_rejected_records,
        max_rejected_mb=max_rejected_mb,
        actions=actions,
        actor_ids=actor_ids,
        source_types=source_types,
        source_ids=source_ids,
        ip_addresses=ip_addresses,
        time_zone=time_zone,
    )
    check_start(options.start, settled_end(options.lag_seconds, _utc_now()))
    client = ZendeskClient(
        options.base_url,
        credentials,
        stats=stats,
        rate_limit_share=options.rate_limit_share,
        max_wait_seconds=options.max_wait_seconds,
        max_answer_seconds=options.max_answer_seconds,
        max_idle_pages=options.max_idle_pages,
    )
    if client.auth_mode == "api_token" and client.stats.first_warning("api_token"):
        logger.warning(API_TOKEN_WARNING)
    return [
        audit_logs_resource(client, options, chunk_pages, chunk_seconds, report=chunk_report),
        accounts_resource(client, options, report=chunk_report),
    ]
