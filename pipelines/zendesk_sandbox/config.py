"""The sandbox's settings: one dataclass shared by the Python handle, the CLI and the fixtures."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "reset", "truncated")
# Answers that look successful but are not usable; opt-in, for the reliability tests.
BAD_ANSWER_KINDS: tuple[str, ...] = (
    "429-fractional",  # 429 with a non-integer Retry-After
    "html",  # 200 text/html maintenance page
    "empty",  # 200 with an empty body
    "no_audit_logs",  # 200 JSON without the audit_logs key
    "no_cursor",  # a list page that says has_more but carries no after_cursor
    "repeat_cursor",  # a list page whose after_cursor is the one the request sent
    "repeat_record",  # a list page that carries one of its records twice (usable: kept once, not retried)
)
# How a cursor page writes a cursor it has none for (the last page's next one, both on an empty
# page): "empty" is Zendesk's `""`; "null" and "absent" are what its docs leave possible; "cursor"
# keeps a real position on the last page (null on an empty page), as some APIs do.
LAST_PAGE_CURSORS: tuple[str, ...] = ("empty", "null", "absent", "cursor")
# Zendesk does not document whether the two `filter[created_at][]` bounds are inclusive: the
# sandbox answers each reading, so a connector can be proved against all of them.
CREATED_AT_BOUNDS: tuple[str, ...] = ("inclusive", "exclusive", "start-inclusive", "end-inclusive")


@dataclass
class SandboxConfig:
    """Everything a sandbox run can vary.

    The defaults make a run fully deterministic: the same seed and config give the same records,
    because `history_end` is pinned instead of following the clock.
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0 = a free port
    records: int = 10_000
    seed: int = 42
    subdomain: str = "acme"
    email: str = "admin@acme.example"  # Basic user is f"{email}/token"
    api_token: str = "sandbox-api-token"  # Basic only: never accepted as a Bearer token, like Zendesk
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_ttl_seconds: int = 1800
    plan: str = "enterprise"  # or "professional": the audit-log endpoints refuse (see non_enterprise_answer)
    # What the audit-log endpoints answer a non-Enterprise plan; Zendesk documents neither:
    # 403 the plan body, or 404 {"error":"InvalidEndpoint"}.
    non_enterprise_answer: int = 403
    # True: every API path answers 404 InvalidEndpoint, like a host with no Zendesk account behind it.
    no_account: bool = False
    # Scopes the OAuth client may ask for at /oauth/tokens (others: 400 invalid_scope); None: any
    # scope Zendesk knows (read, write, impersonate, RESOURCE:read, RESOURCE:write).
    client_scopes: tuple[str, ...] | None = None
    # The scope POST /api/v2/audit_logs/export needs from an OAuth token (undocumented; `read`
    # covers any `X:read`, `write` any `X:write`).
    export_scope: str = "auditlogs:read"
    # The scope an OAuth token needs for GET /api/v2/account/settings (Zendesk documents none);
    # "" lets any valid credential read them. API tokens (Basic) carry no scopes and always may.
    settings_scope: str = "read"
    # True: the settings answer 403 to every caller, as to a user who is not an admin.
    settings_forbidden: bool = False
    time_zone: str = "Paris"
    iana_time_zone: str = "Europe/Paris"
    history_end: datetime | None = None  # None: 2026-11-01T00:00:00Z
    history_days: int = 365
    latency_ms: float = 0
    rate_limit: int | None = None  # requests per rate_window; None = no limit
    rate_window: float = 60.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    fault_kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    last_page_cursor: str = "empty"  # one of LAST_PAGE_CURSORS
    # Zendesk documents no `count` on the audit-log list's offset pages: off by default.
    offset_count: bool = False
    created_at_bounds: str = "inclusive"  # one of CREATED_AT_BOUNDS

    def __post_init__(self) -> None:
        if self.last_page_cursor not in LAST_PAGE_CURSORS:
            raise ValueError(f"last_page_cursor must be one of {', '.join(LAST_PAGE_CURSORS)}")
        if self.created_at_bounds not in CREATED_AT_BOUNDS:
            raise ValueError(f"created_at_bounds must be one of {', '.join(CREATED_AT_BOUNDS)}, "
                             f"not {self.created_at_bounds!r}")
