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
    api_token: str = "sandbox-api-token"  # also accepted as a static Bearer token
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_ttl_seconds: int = 1800
    plan: str = "enterprise"  # or "professional": the audit-log endpoints answer 403
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
    # Zendesk documents no `count` on the audit-log list's offset pages: off by default.
    offset_count: bool = False
    created_at_bounds: str = "inclusive"  # one of CREATED_AT_BOUNDS

    def __post_init__(self) -> None:
        if self.created_at_bounds not in CREATED_AT_BOUNDS:
            raise ValueError(f"created_at_bounds must be one of {', '.join(CREATED_AT_BOUNDS)}, "
                             f"not {self.created_at_bounds!r}")
