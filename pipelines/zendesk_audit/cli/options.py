"""Option bundles and error handling shared by every `zendesk-audit` command (one meaning per flag)."""
from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from dlt.common.configuration.exceptions import ConfigurationException

from zendesk_audit.errors import ConfigurationError, ZendeskAuditError, config_problem
from zendesk_audit.load.dlt_settings import verbose_dlt
from zendesk_audit.settings import DEFAULT_DATASET_NAME, DEFAULT_DUCKDB_PATH
from zendesk_audit.text_safety import terminal_text

F = TypeVar("F", bound=Callable[..., Any])


def fails_in_one_line(func: F) -> F:
    """The CLI's one exit path: an error a user can fix becomes `error: <one line>` and its
    `exit_code` (the table in `errors.py`), never a traceback; a command that returns an exit code
    (3 for alerts found, 1 or 2 for a finding) exits with it.

    dlt's configuration errors count as `ConfigurationError` (exit 2). The line goes through
    `terminal_text`: errors quote servers and data, which may hold control sequences or line breaks.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = func(*args, **kwargs)
        except (ZendeskAuditError, ConfigurationException) as exc:
            failure = user_error(exc)
        else:
            if code:
                sys.exit(code)
            return
        click.echo(f"error: {terminal_text(failure)}", err=True)
        sys.exit(failure.exit_code)

    return wrapper  # type: ignore[return-value]


def user_error(exc: ZendeskAuditError | ConfigurationException) -> ZendeskAuditError:
    """The error as the user sees it: dlt's configuration errors become `ConfigurationError` (exit 2)."""
    if isinstance(exc, ZendeskAuditError):
        return exc
    return ConfigurationError(f"configuration: {config_problem(exc)}")


def failure_summary(failure: ZendeskAuditError) -> dict[str, Any]:
    """What `--json` prints on stdout when a command fails before its summary: an orchestrator
    parsing stdout always gets one object. The error line is the one stderr shows."""
    from zendesk_audit.errors import EXIT_USAGE, LoadFailed

    if failure.exit_code == EXIT_USAGE or isinstance(failure, LoadFailed):
        committed = "nothing"  # exit 2 writes nothing; a refused load step commits nothing of the run
    else:
        committed = "earlier chunks"  # chunks committed before the failure stay; `status` shows the cursor
    return {
        "status": "failed",
        "error": terminal_text(failure),
        "exit_code": failure.exit_code,
        "committed": committed,
    }


LIBRARY_LOGGER = "dlt"  # dlt's own logger: its level comes from RUNTIME__LOG_LEVEL / [runtime] log_level
OWN_LOGGER = "zendesk_audit"


class LibraryWarningsOff(logging.Filter):
    """Keeps dlt's warnings and info lines off the terminal unless the user asked for them.

    They are written for pipeline developers ("A ArrowToInsertValuesWriter writer is used ... This
    will degrade performance" on every PostgreSQL load, "Large number of records sharing the same
    value of cursor field" on a same-second burst, which the source handles by design) and read to a
    user like something to fix. Errors still pass. A log level set in `RUNTIME__LOG_LEVEL` or in
    `[runtime] log_level` counts as asking, as does `--verbose`, which removes this filter.
    """

    def __init__(self) -> None:
        super().__init__()
        self._asked: bool | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        if self._asked is None:
            self._asked = False  # dlt may log while its config is read below
            self._asked = _log_level_configured()
        return self._asked


def _log_level_configured() -> bool:
    if os.environ.get("RUNTIME__LOG_LEVEL"):
        return True
    import dlt

    try:
        return dlt.config.get("runtime.log_level") is not None
    except Exception:  # noqa: BLE001 - a broken config file is the command's to report, in one line
        return False


def quiet_library_logs(ctx: click.Context) -> None:
    """For one CLI invocation: dlt's warnings off the terminal (see `LibraryWarningsOff`).

    A filter on dlt's logger rather than its level: dlt sets the level itself when its runtime
    starts. Removed when the command ends, so nothing outlives it in a process that runs several
    (tests, an orchestrator calling `main`).
    """
    logger = logging.getLogger(LIBRARY_LOGGER)
    quiet = LibraryWarningsOff()
    logger.addFilter(quiet)
    ctx.call_on_close(lambda: logger.removeFilter(quiet))


def _show_library_logs(ctx: click.Context, _param: click.Parameter, verbose: bool) -> None:
    """--verbose: dlt's and our own lines from INFO up (retries, each step), for one invocation."""
    if not verbose:
        return
    library, own = logging.getLogger(LIBRARY_LOGGER), logging.getLogger(OWN_LOGGER)
    for quiet in [item for item in library.filters if isinstance(item, LibraryWarningsOff)]:
        library.removeFilter(quiet)
    levels = (library.level, own.level)
    library.setLevel(logging.INFO)  # dlt's runtime may already be up
    own.setLevel(logging.INFO)
    # For a runtime that starts later in this command, unless the user set a level (`dlt_settings`).
    ctx.with_resource(verbose_dlt())

    def restore() -> None:
        library.setLevel(levels[0])
        own.setLevel(levels[1])

    ctx.call_on_close(restore)


def verbose_option(func: F) -> F:
    """--verbose: show dlt's own log lines and the loader's retries (hidden by default)."""
    return click.option(
        "--verbose",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_show_library_logs,
        help="Show dlt's log lines and each retry (also: RUNTIME__LOG_LEVEL=INFO).",
    )(func)


def destination_options(func: F) -> F:
    """--destination, --dataset and --duckdb-path mean the same thing in every command."""
    func = click.option(
        "--duckdb-path",
        default=DEFAULT_DUCKDB_PATH,
        show_default=True,
        help="The DuckDB file, when the destination is DuckDB.",
    )(func)
    func = click.option(
        "--dataset", default=DEFAULT_DATASET_NAME, show_default=True, help="Schema (or folder) for the tables."
    )(func)
    func = click.option(
        "--destination",
        default="duckdb",
        show_default=True,
        help="Any dlt destination name: duckdb, postgres, snowflake, bigquery, databricks, filesystem, ...",
    )(func)
    return func


def filter_options(func: F) -> F:
    """Zendesk's server-side filters, each repeatable (or comma-separated), for `load` and `export-request`."""
    for option in reversed(
        [
            click.option("--action", "actions", multiple=True,
                         help="Only these actions (repeatable): create, update, destroy, login, exported."),
            click.option("--actor-id", "actor_ids", multiple=True, help="Only changes by these actor ids (repeatable)."),
            click.option("--source-type", "source_types", multiple=True,
                         help="Only these source types (repeatable), e.g. user, rule."),
            click.option("--source-id", "source_ids", multiple=True,
                         help="Only these item ids (repeatable; needs --source-type)."),
            click.option("--ip-address", "ip_addresses", multiple=True,
                         help="Only changes from these IP addresses (repeatable)."),
        ]
    ):
        func = option(func)
    return func


def detections_dir_option(func: F) -> F:
    """--detections-dir: the team's folder of Sigma rules, added to the shipped ones for `sensitive_changes`."""
    return click.option(
        "--detections-dir",
        type=click.Path(file_okay=False),
        help="A folder of your own Sigma rules (*.yml), added to the shipped ones in sensitive_changes "
        "(default: config models.detections_dir).",
    )(func)


def check_detection_rules(detections_dir: str | None) -> None:
    """Read and compile the shipped rules and the team's (`--detections-dir`, else config), so a bad
    rule fails a load or an import in one line before anything is written.

    Raises:
        DetectionRuleError: `file: field: reason` (exit 2).
    """
    from zendesk_audit.models.rule_check import check_rules

    check_rules(detections_dir)  # remembers files that passed, so a no-op run skips pySigma


def lock_option(func: F) -> F:
    """--wait-for-lock: how long a command waits for the database (see `locking`), then fails in one line."""
    return click.option(
        "--wait-for-lock",
        type=float,
        default=0.0,
        show_default=True,
        help="Seconds to wait when a load or import into the same database is running, or another process "
        "has the DuckDB file open (then fail in one line).",
    )(func)
