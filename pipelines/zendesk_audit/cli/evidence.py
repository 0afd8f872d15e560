"""`zendesk-audit alerts`, `zendesk-audit report` and `zendesk-audit evidence`: parse, call, print.

Registered in `commands.py` with `cli.add_command(alerts_command)`, `cli.add_command(report_command)` and
`cli.add_command(evidence_group)`; the work is in `alerts.py`, `report.py` and `evidence.py`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from zendesk_audit.cli.options import destination_options, fails_in_one_line, lock_option, verbose_option
from zendesk_audit.load.pipeline import open_database
from zendesk_audit.models.seeds import SEVERITIES

F = TypeVar("F", bound=Callable[..., Any])


def as_of_option(func: F) -> F:
    """--as-of: read a DuckLake as of a past snapshot (`report`, `evidence`)."""
    return click.option(
        "--as-of", "as_of", metavar="SNAPSHOT|TIME",
        help="DuckLake only: read the lake as of this snapshot id or ISO time (the one an earlier report or "
             "export names) to reproduce it; default: the latest snapshot, which the output names.",
    )(func)


def period_options(func: F) -> F:
    """--from, --to and --subdomain mean the same in the alerts, the report and the evidence export."""
    func = click.option("--subdomain", help="Only this account (the subdomain column); default: every account.")(func)
    func = click.option("--to", "to", metavar="ISO", help="End of the period, exclusive (UTC unless an offset is given).")(func)
    func = click.option("--from", "from_", metavar="ISO", help="Start of the period, inclusive (a date is midnight UTC).")(func)
    return func


# ----------------------------------------------------------------------------- evidence
@click.group(
    "evidence",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@period_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="A new or empty folder for the export.")
@as_of_option
@destination_options
@lock_option
@verbose_option
@click.pass_context
@fails_in_one_line
def evidence_group(
    ctx: click.Context,
    from_: str | None,
    to: str | None,
    subdomain: str | None,
    out_dir: str | None,
    as_of: str | None,
    destination: str,
    dataset: str,
    duckdb_path: str,
    wait_for_lock: float,
) -> None:
    """Export a period's records and every model's rows as CSV and Parquet with a SHA-256 manifest.

    Writes records/, models/ and seeds/ (CSV with spreadsheet formulas neutralised, and Parquet),
    manifest.json (row counts, the query behind each file, SHA-256 of each file, tool version,
    generated_at) and SHA256SUMS. Prints the manifest's SHA-256: keep it where the recipient cannot
    edit it. `zendesk-audit evidence verify DIR` checks an export.

    Example: zendesk-audit evidence --from 2026-07-01 --to 2026-10-01 --out evidence-2026-q3
    """
    if ctx.invoked_subcommand is not None:
        return
    from zendesk_audit.audit.evidence import export_evidence
    from zendesk_audit.audit.period import Period
    from zendesk_audit.errors import ConfigurationError

    if not (from_ and to and out_dir):
        raise ConfigurationError("evidence needs --from ISO --to ISO --out DIR (or: zendesk-audit evidence verify DIR)")
    period = Period.parse(from_, to, subdomain)
    with open_database(destination, dataset, duckdb_path, wait_for_lock, as_of=as_of, pin=True) as pipeline:
        result = export_evidence(pipeline, out_dir, period)
    click.echo(result.summary_line())


@evidence_group.command("verify")
@click.argument("directory", type=click.Path())
@click.option("--manifest-sha256", help="The manifest's SHA-256 as printed by the export, kept elsewhere.")
@fails_in_one_line
def verify_command(directory: str, manifest_sha256: str | None) -> int:
    """Recompute every file's SHA-256 and row count against manifest.json.

    Exit 0 when intact, 1 with one line per problem (changed, missing or added file).

    Example: zendesk-audit evidence verify evidence-2026-q3 --manifest-sha256 3b1f...
    """
    from zendesk_audit.audit.evidence import manifest_sha256 as digest_of
    from zendesk_audit.audit.evidence import snapshot_line, verify_evidence
    from zendesk_audit.errors import EXIT_FAILED, EXIT_OK
    from zendesk_audit.text_safety import terminal_text

    problems = verify_evidence(directory, manifest_sha256)
    for problem in problems:  # they quote the folder's file names and manifest, which anyone may have edited
        click.echo(terminal_text(f"{directory}: {problem}"), err=True)
    if problems:
        return EXIT_FAILED
    click.echo(f"{directory}: intact; manifest sha256 {digest_of(directory)}")
    lake = snapshot_line(directory)
    if lake:
        click.echo(terminal_text(f"{directory}: {lake}"))
    return EXIT_OK


# ----------------------------------------------------------------------------- alerts
@click.command("alerts", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--since-last", is_flag=True, help="Every sensitive change not reported before (the default).")
@period_options
@click.option(
    "--min-severity",
    type=click.Choice(list(SEVERITIES), case_sensitive=False),
    default="low",
    show_default=True,
    help="Report (and remember) only sensitive changes at or above this severity.",
)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one line per alert and a summary; json: one object.")
@click.option("--webhook", metavar="URL", help="POST the alerts as JSON here (with retries); failed ones are sent next run.")
@click.option("--history", is_flag=True,
              help="Also report the sensitive changes from before an account's first alerts run (which "
                   "summarises them instead of alerting), once; on a first run, report the whole past.")
@destination_options
@lock_option
@verbose_option
@fails_in_one_line
def alerts_command(
    history: bool,
    since_last: bool,
    from_: str | None,
    to: str | None,
    subdomain: str | None,
    min_severity: str,
    output_format: str,
    webhook: str | None,
    destination: str,
    dataset: str,
    duckdb_path: str,
    wait_for_lock: float,
) -> int:
    """Report new rows of sensitive_changes once each, optionally to a webhook.

    What was reported is kept in <dataset>_models.alert_ledger per rule and record, so a change
    is never reported twice and never skipped (late records included). Exit 3 when alerts at or
    above --min-severity were found, 1 when the webhook failed (they are retried next run), 0
    when there is nothing new.

    The first run for an account does not alert on its past (a backfill's years of changes): it
    prints one line per account with how many there were, records them as history, and alerts on
    what is new from then on. --history reports that history too.

    Example: zendesk-audit alerts --min-severity high --webhook https://hooks.example.com/T0/B0/x
    """
    from zendesk_audit.audit.alerts import run_alerts
    from zendesk_audit.errors import ConfigurationError

    if since_last and (from_ or to):
        raise ConfigurationError("--since-last reports everything not reported yet: leave out --from/--to, or --since-last")
    # Not read-only: the ledger records what was reported.
    with open_database(destination, dataset, duckdb_path, wait_for_lock, read_only=False) as pipeline:
        result = run_alerts(
            pipeline,
            since_last=not (from_ or to),
            from_=from_,
            to=to,
            min_severity=min_severity.lower(),
            webhook=webhook,
            subdomain=subdomain,
            history=history,
        )
    for line in result.lines(output_format):
        click.echo(line)
    for warning in result.warning_lines():
        click.echo(f"warning: {warning}", err=True)
    error = result.error_line()
    if error:
        click.echo(f"error: {error}", err=True)
    return result.exit_code  # 3 alerts found, 1 the webhook failed, 0 nothing new: fails_in_one_line exits with it


# ----------------------------------------------------------------------------- report
@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The file to write: report.html, or report.pdf for a PDF.")
@period_options
@click.option("--format", "output_format", type=click.Choice(["html", "pdf"], case_sensitive=False),
              help="html or pdf; default: from --out's extension (.pdf), else html.")
@click.option("--paper", type=click.Choice(["a4", "letter"], case_sensitive=False),
              help="The PDF's page size (default a4); for HTML, fixes the printed page size.")
@click.option("--browser", metavar="PATH", envvar="ZENDESK_AUDIT_BROWSER",
              help="Chromium, Chrome or Edge (131+) to print the PDF with; default: the first found on the PATH.")
@as_of_option
@destination_options
@lock_option
@verbose_option
@fails_in_one_line
def report_command(
    out_path: str,
    from_: str | None,
    to: str | None,
    subdomain: str | None,
    output_format: str | None,
    paper: str | None,
    browser: str | None,
    as_of: str | None,
    destination: str,
    dataset: str,
    duckdb_path: str,
    wait_for_lock: float,
) -> None:
    """Write the period review an auditor files: one self-contained HTML file, or a paginated PDF.

    In order: a cover (account, period, time zone and its source, business hours, how far the
    data was loaded, when it was generated); the counts against the previous period of the same
    length; what needs attention (critical and high sensitive changes, role changes to admin roles,
    people outside the approved actors, data exports, API tokens created); activity by day and by
    weekday and hour (off hours marked); the detail tables; an appendix. No script, no network.

    A PDF (--format pdf, or --out ending in .pdf) is printed by a headless Chromium, Chrome or
    Edge 131+ found on the PATH (or --browser). Exit 2 when none is found or an option is wrong
    (nothing written), 1 when the browser fails to print.

    Example: zendesk-audit report --from 2026-07-01 --to 2026-10-01 --out q3-review.pdf
    """
    from zendesk_audit.audit.period import Period
    from zendesk_audit.audit.report import report_format, write_report

    period = Period.parse(from_, to, subdomain)
    chosen = report_format(out_path, output_format)  # before the database is opened: a wrong name writes nothing
    with open_database(destination, dataset, duckdb_path, wait_for_lock, as_of=as_of, pin=True) as pipeline:
        result = write_report(pipeline, out_path, period, format=chosen,
                              paper=paper.lower() if paper else None, browser=browser)
    click.echo(result.summary_line())
