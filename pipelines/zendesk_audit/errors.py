"""Failures a user can fix, each rendered as one line that says what to do.

The CLI prints `str(error)` (through `text_safety.terminal_text`) and exits with `exit_code`;
nothing here may carry a secret.
"""
from __future__ import annotations

from typing import TypeVar

from zendesk_audit.text_safety import terminal_text


class ZendeskAuditError(Exception):
    """Base of every error the user can act on."""

    exit_code = 1


class ConfigurationError(ZendeskAuditError):
    """Bad option, config value or missing setting: nothing was requested or written."""

    exit_code = 2


class ReportPrintError(ZendeskAuditError):
    """The browser that prints the PDF report failed or timed out (nothing was written)."""


class AuthenticationError(ZendeskAuditError):
    """Zendesk answered 401 or the OAuth client was refused."""


class InvalidScopeError(AuthenticationError):
    """`/oauth/tokens` answered 400 invalid_scope: the OAuth client may not ask for that scope."""


class PlanError(ZendeskAuditError):
    """The account is not Enterprise or the user may not view audit logs (403, or a 404 from an account)."""


class ScopeError(ZendeskAuditError):
    """The OAuth token lacks a scope that the endpoint needs."""


class SubdomainError(ZendeskAuditError):
    """No Zendesk account answers at that address."""


class ApiError(ZendeskAuditError):
    """Zendesk answered in a way we cannot use, after every retry."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


E = TypeVar("E", bound=BaseException)


def find_cause(exc: BaseException, kind: type[E]) -> E | None:
    """Dig an exception of `kind` out of the wrappers dlt puts around errors raised in a step."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack.extend([current.__cause__, current.__context__, getattr(current, "exception", None)])
    return None


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an error, short enough for one line of output.

    Errors quote servers and data (an answer's body, a Location header, a record's field): the
    line goes through `terminal_text`, so no control sequence or hidden character survives in it.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return terminal_text((lines[0] if lines else type(exc).__name__)[:300])


def config_problem(exc: BaseException) -> str:
    """dlt's configuration errors say where on the first line and why on the next: keep both."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return terminal_text(f"{lines[0]} {lines[1]}"[:400])
    return first_line(exc)


class Interrupted(ZendeskAuditError):
    """SIGTERM or SIGINT stopped the run; what was committed before stays consistent."""


class CursorAheadError(ZendeskAuditError):
    """The saved cursor is later than the settled end (now - lag): every run would load nothing.

    An older version saved such a cursor from a `--start` in the future. Exit 2 like a
    configuration error: nothing was fetched or written, and only a person can fix it, with the
    command the line names (the load fills in `repair_command` with its own options).
    """

    exit_code = 2

    def __init__(self, cursor: str, settled_end: str, subdomain: str | None = None) -> None:
        super().__init__(cursor, settled_end)
        self.cursor = cursor
        self.settled_end = settled_end
        self.subdomain = subdomain
        self.repair_command = "zendesk-audit repair-cursor"

    def __str__(self) -> str:
        return (
            f"the saved cursor {self.cursor} is later than now minus the lag ({self.settled_end}), so every load "
            f"finds nothing; move it back to the latest record loaded: {self.repair_command}"
        )
