"""The `zendesk-audit` command: parse, call the library, print. No logic lives here.

Known failures (ZendeskAuditError, dlt configuration errors) end in one line on stderr with the
error's exit code (see `errors.py`: 1 a failed run, 2 usage or configuration, 4 a step after a
committed load); anything else is a bug and keeps its traceback. dlt's own log lines stay off the
terminal unless `--verbose` or RUNTIME__LOG_LEVEL asks for them (`options.quiet_library_logs`).
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import click
from dlt.common.configuration.exceptions import ConfigurationException

from zendesk_audit.cli.dashboards import dashboards_group
from zendesk_audit.cli.detections import detections_group
from zendesk_audit.cli.evidence import alerts_command, evidence_group, report_command
from zendesk_audit.cli.imports import export_request_command, import_csv_command
from zendesk_audit.cli.lake import lake_group
from zendesk_audit.cli.models import models_group
from zendesk_audit.cli.options import (
    check_detection_rules,
    destination_options,
    detections_dir_option,
    fails_in_one_line,
    failure_summary,
    filter_options,
    lock_option,
    quiet_library_logs,
    user_error,
    verbose_option,
)
from zendesk_audit.cli.state import repair_cursor_command, status_command
from zendesk_audit.errors import ZendeskAuditError
from zendesk_audit.models.seeds import SEVERITIES
from zendesk_audit.settings import DEFAULT_CHUNK_PAGES, DEFAULT_CHUNK_SECONDS, DEMO_DUCKDB_PATH
from zendesk_audit.text_safety import json_text, terminal_text

if TYPE_CHECKING:
    from zendesk_audit.load.accounts import LoadCommandResult


class InertFormatter(logging.Formatter):
    """Log lines quote servers and records: their text goes through `terminal_text` (tracebacks,
    which are ours, keep their lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return terminal_text(super().formatMessage(record))


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(InertFormatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("zendesk_audit")
    if not logger.handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def _progress_mode(choice: str, as_json: bool) -> str | None:
    if choice == "auto":
        return "line" if sys.stderr.isatty() and not as_json else None
    return None if choice == "none" else choice


class CommandGroup(click.Group):
    """The command group; `sandbox` comes from its own package (zendesk_sandbox, the local Zendesk
    stand-in), imported only when that command runs or help lists it."""

    lazy_commands = {"sandbox": ("zendesk_sandbox.command", "sandbox_command")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module, name = self.lazy_commands[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), name)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zendesk-audit", prog_name="zendesk-audit", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Load the Zendesk audit log into a warehouse and model it for audits.

    Example: zendesk-audit load --subdomain acme
    """
    _setup_logging()
    quiet_library_logs(ctx)


@cli.command()
@click.option(
    "--subdomain",
    "subdomains",
    multiple=True,
    help="The account, as in https://SUBDOMAIN.zendesk.com; labels the rows. Repeat it to load several accounts "
    "(or set sources.zendesk_audit.subdomains).",
)
@click.option("--base-url", help="Replaces https://SUBDOMAIN.zendesk.com (the sandbox, a proxy).")
@click.option(
    "--start",
    help="ISO time to start from when there is no state yet (default: all history); not later than now minus the lag.",
)
@click.option(
    "--end",
    help="ISO time to stop at: a bounded backfill or re-scan; leaves the cursor alone (reads up to now minus the lag at most).",
)
@click.option("--lag-seconds", type=int, help="Stop this far behind now (default 300: Zendesk is eventually consistent).")
@click.option(
    "--time-zone",
    help="IANA time zone for local times (off-hours, reports), instead of the account settings' "
    "(or set sources.zendesk_audit.time_zone); default: the account's, else UTC.",
)
@filter_options
@destination_options
@lock_option
@click.option(
    "--chunk-pages",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_PAGES,
    show_default=True,
    help="Commit after about this many pages (or --chunk-seconds): a killed backfill re-fetches at most one chunk.",
)
@click.option(
    "--chunk-seconds",
    type=click.FloatRange(min=1),
    default=DEFAULT_CHUNK_SECONDS,
    show_default=True,
    help="Commit after about this many seconds of fetching (or --chunk-pages), whichever comes first.",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "line", "log", "none"]),
    default="auto",
    show_default=True,
    help="line: a live line; log: plain lines for orchestrator logs; auto: line on a terminal, else none.",
)
@click.option(
    "--rate-limit-share",
    type=float,
    help="Share of the account's rate limit this load may use (default 0.5: the rest stays for other integrations).",
)
@click.option("--workers", type=click.IntRange(1, 32), help="Windows fetched at once (default: sized from latency and budget).")
@click.option("--no-models", is_flag=True, help="Do not build the SQL models after the load.")
@detections_dir_option
@click.option("--alerts", "with_alerts", is_flag=True, help="After the load, report new sensitive changes (exit 3 when found).")
@click.option(
    "--alerts-min-severity",
    type=click.Choice(list(SEVERITIES)),
    default="low",
    show_default=True,
    help="With --alerts: the lowest severity reported.",
)
@click.option("--alerts-webhook", metavar="URL", help="With --alerts: POST the alerts here (see zendesk-audit alerts).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@verbose_option
@fails_in_one_line
def load(
    destination: str,
    dataset: str,
    duckdb_path: str,
    as_json: bool,
    wait_for_lock: float,
    progress: str,
    chunk_pages: int,
    chunk_seconds: float,
    no_models: bool,
    detections_dir: str | None,
    with_alerts: bool,
    alerts_min_severity: str,
    alerts_webhook: str | None,
    subdomains: tuple[str, ...],
    **source_args: Any,
) -> int:
    """Load new audit-log records, exactly once, into the destination.

    Settings not given here come from .dlt/config.toml, .dlt/secrets.toml or SOURCES__ZENDESK_AUDIT__*
    environment variables. The SQL models are built after a successful load (--no-models to skip).
    Exit 0 on success, 1 on a failed run (or a failed account), 2 on a usage or configuration error
    (nothing written), 3 when --alerts found alerts, 4 when the load committed its data and the
    models or the alerts after it failed (the summary comes first, then the error line).

    Example: zendesk-audit load --subdomain acme --start 2024-01-01 --time-zone Europe/Paris
    """
    try:
        outcome = _run_load(
            destination, dataset, duckdb_path, as_json, wait_for_lock, progress, chunk_pages, chunk_seconds, no_models,
            detections_dir, with_alerts, alerts_min_severity, alerts_webhook, subdomains, source_args,
        )
    except (ZendeskAuditError, ConfigurationException) as exc:
        failure = user_error(exc)
        if as_json:  # stdout still gets one object to parse; the line goes to stderr as always
            click.echo(json_text(failure_summary(failure)))
        raise failure from None
    for line, to_stderr in outcome.lines(as_json):
        click.echo(terminal_text(line) if to_stderr else line, err=to_stderr)
    if outcome.failure is not None and not outcome.failed_accounts:
        raise outcome.failure  # one line, exit 4: the data is committed, the step after it is not
    return outcome.exit_code


def _run_load(
    destination: str,
    dataset: str,
    duckdb_path: str,
    as_json: bool,
    wait_for_lock: float,
    progress: str,
    chunk_pages: int,
    chunk_seconds: float,
    no_models: bool,
    detections_dir: str | None,
    with_alerts: bool,
    alerts_min_severity: str,
    alerts_webhook: str | None,
    subdomains: tuple[str, ...],
    source_args: dict[str, Any],
) -> LoadCommandResult:
    from zendesk_audit.load.accounts import AlertsRequest, load_all
    from zendesk_audit.load.runner import LoadOptions

    if not no_models:
        check_detection_rules(detections_dir)  # a bad rule fails now, before anything is loaded

    options = LoadOptions(
        destination=destination,
        dataset_name=dataset,
        duckdb_path=duckdb_path,
        wait_for_lock=wait_for_lock,
        progress=_progress_mode(progress, as_json),
        chunk_pages=chunk_pages,
        chunk_seconds=chunk_seconds,
        build_models=not no_models,
        detections_dir=detections_dir,
    )
    return load_all(
        subdomains,
        {key: value for key, value in source_args.items() if value not in (None, ())},
        options,
        AlertsRequest(alerts_min_severity, alerts_webhook) if with_alerts else None,
    )


@cli.command()
@click.option("--records", default=20_000, show_default=True, help="How many records the sandbox holds.")
@click.option("--duckdb-path", default=DEMO_DUCKDB_PATH, show_default=True, help="The DuckDB file to load.")
@verbose_option
@fails_in_one_line
def demo(records: int, duckdb_path: str) -> None:
    """Start the sandbox in-process, load it into a DuckDB file and show what is there.

    Example: zendesk-audit demo
    """
    from zendesk_audit.cli.demo import run_demo

    for line in run_demo(records=records, duckdb_path=duckdb_path):
        click.echo(line)


cli.add_command(models_group)
cli.add_command(detections_group)
cli.add_command(dashboards_group)
cli.add_command(alerts_command)
cli.add_command(report_command)
cli.add_command(evidence_group)
cli.add_command(import_csv_command)
cli.add_command(export_request_command)
cli.add_command(status_command)
cli.add_command(repair_cursor_command)
cli.add_command(lake_group)


def main(argv: list[str] | None = None) -> None:
    """The `zendesk-audit` program. As the process's owner (not as a library) it picks Arrow's
    allocator before pyarrow starts: the default pool (jemalloc/mimalloc) keeps freed buffers, so a
    long load's memory creeps up; the system allocator hands them back (measured: -55 MB at 100,000
    records). An orchestrator that imports the package decides for its own process (README)."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from zendesk_audit.load.dlt_settings import settings

    try:
        settings()  # our dlt defaults from the start, dlt's telemetry off among them
    except Exception:  # noqa: BLE001 - an unreadable config file: the command says so, in one line
        pass
    cli.main(args=argv, prog_name="zendesk-audit")
