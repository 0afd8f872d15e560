"""`Sandbox`: start the server in a background thread and steer it from Python."""
from __future__ import annotations

import dataclasses
import json
import threading
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from zendesk_sandbox.config import SandboxConfig
from zendesk_sandbox.faults import UNSET
from zendesk_sandbox.server import SandboxServer
from zendesk_sandbox.state import SandboxState

if TYPE_CHECKING:
    from typing_extensions import Self


class Sandbox:
    """A running local Zendesk audit-log API.

    Example:
        >>> with Sandbox(records=500, seed=1) as sandbox:
        ...     response = requests.get(f"{sandbox.base_url}/api/v2/audit_logs",
        ...                             auth=("admin@acme.example/token", "sandbox-api-token"))
    """

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        config = config or SandboxConfig()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self._state: SandboxState | None = None
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Build the records and serve them; returns self once the port accepts connections."""
        if self._server is not None:
            return self
        self._state = SandboxState(self.config)
        self._server = SandboxServer((self.config.host, self.config.port), self._state)
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"zendesk-sandbox-{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def state(self) -> SandboxState:
        if self._state is None:
            raise RuntimeError("the sandbox is not started")
        return self._state

    # ----------------------------------------------------------------- records
    def records(self) -> list[dict[str, Any]]:
        """Every visible record in (created_at, seq) ascending order, as the API serves them."""
        store = self.state.store
        with store.lock:
            return [store.record(seq) for seq in store.all_seqs()]

    def ids(self) -> set[int]:
        """The ids of every visible record."""
        return self.state.store.all_ids()

    def append(self, count: int = 1, *, created_at: datetime | None = None, late: bool = False,
               **fields: Any) -> list[dict[str, Any]]:
        """Add realistic records, visible from now on, and return them.

        Args:
            count: how many records.
            created_at: their `created_at` (UTC); None means now. An old value with
                `late=True` simulates Zendesk's eventual consistency: the record sorts among
                older ones but only becomes visible now.
            late: labels the records as late arrivals (counted as `appended_late`).
            **fields: overrides for any of the 12 record fields.
        """
        return self.state.append(count, created_at=created_at, late=late, fields=fields)

    def append_raw(self, raw: str | bytes | dict[str, Any], *, created_at: datetime | None = None) -> dict[str, Any]:
        """Add one record served byte for byte as `raw`: what no realistic record would be.

        Args:
            raw: the record's JSON text (a dict is written with Python's JSON writer, which takes
                integers of any size and deep nesting).
            created_at: where the record is served (its sort position and the `filter[created_at]`
                ranges that return it); None: its own `created_at` when readable, else now.
                A value unlike the record's own serves it outside the range asked for.

        Returns:
            The record as parsed by the sandbox.
        """
        text = json.dumps(raw) if isinstance(raw, dict) else raw
        return self.state.append_raw(text, created_at=created_at)

    # ----------------------------------------------------------------- faults, counters
    def set_faults(self, *, latency_ms: float | None = None, rate_limit: Any = UNSET,
                   rate_window: float | None = None, fault_rate: float | None = None,
                   fault_seed: int | None = None,
                   fault_kinds: tuple[str, ...] | list[str] | None = None) -> None:
        """Change latency, the request limit or the fault mix while running.

        `rate_limit=None` removes the limit; leaving it out keeps the current one.
        """
        self.state.faults.update(latency_ms=latency_ms, rate_limit=rate_limit,
                                 rate_window=rate_window, fault_rate=fault_rate,
                                 fault_seed=fault_seed, fault_kinds=fault_kinds)

    def counters(self) -> dict[str, Any]:
        """Requests by path, `requests_total`, `rate_limited`, `faults` by kind,
        `records_served`, `list_requests`, `appended`, `appended_late`, `exports`, `rate_windows`."""
        return self.state.counters_snapshot()

    def reset_counters(self) -> None:
        self.state.reset_counters()

    def expire_tokens(self) -> None:
        """Expire every OAuth token issued so far (they then answer 401)."""
        self.state.auth.expire_tokens()
