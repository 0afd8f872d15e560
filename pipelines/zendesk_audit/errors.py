"""Every failure a user can meet, each rendered as one line that says what to do, with its exit code.

The CLI's one error handler (`cli.options.fails_in_one_line`) prints `error: <str(error)>` (through
`text_safety.terminal_text`) and exits with the error's `exit_code`; dlt's configuration errors
become `ConfigurationError` there. Nothing here may carry a secret.

Exit codes, the same for every command:

| code | constant          | meaning                                                           | raised as                      |
|------|-------------------|-------------------------------------------------------------------|--------------------------------|
| 0    | `EXIT_OK`         | success                                                           | -                              |
| 1    | `EXIT_FAILED`     | a failed run: Zendesk or the destination failed (with several     | `ZendeskAuditError` and every  |
|      |                   | accounts: one did), or the run was stopped; what earlier runs and | subclass not listed below      |
|      |                   | chunks committed stays. Also a finding that fails the command: a  |                                |
|      |                   | webhook that failed (`alerts`), a changed file (`evidence         |                                |
|      |                   | verify`)                                                          |                                |
| 2    | `EXIT_USAGE`      | a usage or configuration error, or a saved cursor that needs      | `ConfigurationError` (and      |
|      |                   | `repair-cursor` (`status` finding one exits 2 too): nothing       | `CsvImportError`, `SeedError`),|
|      |                   | requested, nothing written                                        | `CursorAheadError`             |
| 3    | `EXIT_ALERTS`     | `alerts` (and `load --alerts`) found alerts: not an error         | - (`AlertsResult.exit_code`)   |
| 4    | `EXIT_AFTER_LOAD` | the load (or import) committed its data, then a step after it     | `AfterLoadError`               |
|      |                   | failed (models, alerts): the summary comes first, then the line   |                                |

Codes that are not errors (3, or 1 and 2 for a finding: `status`, `evidence verify`) are returned by
the command to the same handler, which exits with them; the alerts' code is `AlertsResult.exit_code`
(also in `alerts --format json`), built from these constants.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar

from dlt.common.configuration.exceptions import ConfigFieldMissingException, LookupTraces

from zendesk_audit.text_safety import terminal_text

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ALERTS = 3
EXIT_AFTER_LOAD = 4


class ZendeskAuditError(Exception):
    """Base of every error the user can act on."""

    exit_code = EXIT_FAILED


class ConfigurationError(ZendeskAuditError):
    """Bad option, config value or missing setting: nothing was requested or written."""

    exit_code = EXIT_USAGE


class SeedError(ConfigurationError):
    """A seed CSV row is invalid; the message is `file:line: reason`."""


class ModelBuildError(ZendeskAuditError):
    """A model failed to build; it and what depends on it keep their previous rows."""


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


class UnreachableError(ZendeskAuditError):
    """Nothing answers at the Zendesk address: the connection is refused (after a few tries on a
    remote host, at once on this machine, where nothing will start listening by retrying)."""


class DestinationError(ZendeskAuditError):
    """The destination cannot be opened: a server that refuses, an unknown database or user, a
    wrong password, a DuckDB file that is read-only, locked by another process, or a folder."""


class AfterLoadError(ZendeskAuditError):
    """The load (or import) committed its data and cursor, then a step after it failed (exit 4).

    Its own exit code because neither 1 (the run failed) nor 2 (nothing written) tells the truth:
    the data is there, only the models or the alerts are behind. `result` is the load's result
    (its `status` says which step failed), for the summary printed before this error's line.
    """

    exit_code = EXIT_AFTER_LOAD

    def __init__(self, step: str, problem: str, rerun: str, result: Any = None, what: str = "the load") -> None:
        super().__init__(step, problem)
        self.step, self.problem, self.rerun, self.result, self.what = step, problem, rerun, result, what

    def __str__(self) -> str:
        return (
            f"{self.step} failed after {self.what} committed its data: {self.problem}; the data stays loaded: "
            f"fix this, then run `{self.rerun}`"
        )


class StepProblem(ZendeskAuditError):
    """A step's failure already worded as its one line, where it ran (the models build after a load
    runs in its own process: `models.build_process`); `after_load_step` passes `problem` on as it is."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class ApiError(ZendeskAuditError):
    """Zendesk answered in a way we cannot use, after every retry."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WaitTooLong(ApiError):
    """The server asked for a wait beyond `max_wait_seconds`: fail now, naming the header."""

    def __init__(self, header: str, seconds: float, limit: float, path: str = "") -> None:
        asked = f"{seconds:,.0f} s" if math.isfinite(seconds) else "forever"
        where = f" at {path}" if path else ""
        super().__init__(
            f"Zendesk's {header} header{where} asks to wait {asked}, more than the {limit:,.0f} s a load waits "
            "(max_wait_seconds): try again later, or raise max_wait_seconds if the wait is real"
        )


# ----------------------------------------------------------------------------- loads and imports
class LoadFailed(ZendeskAuditError):
    """The destination refused or failed the load; nothing of this run was committed."""


class LoadInProgress(ZendeskAuditError):
    """Another load or import into the same database and dataset holds the lock (`locking`)."""


class DatabaseBusy(ZendeskAuditError):
    """Another process has the DuckDB file open in a way that excludes this one (DuckDB's own lock)."""

    def __init__(self, situation: str, advice: str) -> None:
        super().__init__(f"{situation}: {advice}")
        self.situation = situation


class StateUnreadable(ZendeskAuditError):
    """The destination's `audit_logs` could not be read to find where the cursor belongs (`cursor`)."""


class CsvImportError(ConfigurationError):
    """The file is not an Admin Center CSV we can read; nothing of it was loaded (exit 2)."""


class CsvImportStopped(ZendeskAuditError):
    """A bad row stopped the import after earlier chunks were committed: exit 1, not 2, because
    something was written (importing the fixed file again adds nothing twice)."""


class ExportRateLimited(ZendeskAuditError):
    """Zendesk accepted an export from this account less than a minute ago (`export_request`)."""

    def __init__(self, retry_after: float, retry_at: datetime) -> None:
        self.retry_after, self.retry_at = retry_after, retry_at
        super().__init__(
            f"Zendesk takes one audit-log export per minute per account: retry after "
            f"{retry_at:%Y-%m-%dT%H:%M:%SZ} (in {retry_after:.0f} s), or pass --wait"
        )


E = TypeVar("E", bound=BaseException)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception dlt wrapped inside it (causes, contexts, a step's `exception`), once each."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend([current.__cause__, current.__context__, getattr(current, "exception", None)])


def find_cause(exc: BaseException, kind: type[E]) -> E | None:
    """Dig an exception of `kind` out of the wrappers dlt puts around errors raised in a step."""
    return next((current for current in causes(exc) if isinstance(current, kind)), None)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an error, short enough for one line of output.

    Errors quote servers and data (an answer's body, a Location header, a record's field): the
    line goes through `terminal_text`, so no control sequence or hidden character survives in it.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return terminal_text((lines[0] if lines else type(exc).__name__)[:300])


def config_problem(exc: BaseException) -> str:
    """dlt's configuration errors say where on the first line and why on the next: keep both.

    A missing field is named by its full path and the environment variable that sets it: dlt's
    first line names only the outer field (`credentials`), not the one missing (`password`).
    """
    if isinstance(exc, ConfigFieldMissingException):
        return _missing_fields(exc)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return terminal_text(f"{lines[0]} {lines[1]}"[:400])
    return first_line(exc)


def missing_setting(exc: BaseException, where: str = "") -> ConfigurationError:
    """A dlt configuration error as ours (exit 2), saying where such settings go when dlt did not."""
    problem = config_problem(exc)
    hint = "" if "secrets.toml" in problem else ": set it in .dlt/secrets.toml or the environment"
    return ConfigurationError(f"{where}{problem}{hint}")


class DashboardImportError(ZendeskAuditError):
    """Superset refused the login or the bundle (`dashboards superset`); nothing of this run was imported."""


class Interrupted(ZendeskAuditError):
    """SIGTERM or SIGINT stopped the run; what was committed before stays consistent."""


class CursorAheadError(ZendeskAuditError):
    """The saved cursor is later than the settled end (now - lag): every run would load nothing.

    An older version saved such a cursor from a `--start` in the future. Exit 2 like a
    configuration error: nothing was fetched or written, and only a person can fix it, with the
    command the line names (the load fills in `repair_command` with its own options).
    """

    exit_code = EXIT_USAGE

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


def _missing_paths(traces: Any, prefix: str = "") -> list[tuple[str, list[str]]]:
    """(dotted field path, environment keys dlt tried) for each missing leaf field."""
    found: list[tuple[str, list[str]]] = []
    for name, field_traces in traces.items():
        keys: list[str] = []
        for trace in field_traces:
            if isinstance(trace, LookupTraces):
                found.extend(_missing_paths(trace.traces, f"{prefix}{name}."))
            elif getattr(trace, "key", None):
                keys.append(str(trace.key))
        if keys:
            found.append((f"{prefix}{name}", keys))
    return found


def _missing_fields(exc: ConfigFieldMissingException) -> str:
    paths = _missing_paths(exc.traces) or [(name, []) for name in exc.fields]
    named = ", ".join(f"`{path}`" for path, _ in paths)
    line = f"Missing {len(paths)} field(s) in configuration `{exc.spec_name}`: {named}"
    path, keys = paths[0]
    # The most specific key without the pipeline-name prefix: DESTINATION__POSTGRES__CREDENTIALS__PASSWORD.
    destination_keys = [key for key in keys if key.startswith("DESTINATION__")]
    key = max(destination_keys, key=lambda key: key.count("__")) if destination_keys else (keys[-1] if keys else "")
    if key:
        line += f": set {key} in the environment or .dlt/secrets.toml"
    if path.startswith("credentials."):
        example = " (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)" if exc.spec_name.startswith("Postgres") else ""
        line += f", or put the {path.split('.')[-1]} in the connection string{example}"
    return terminal_text(line[:400])
