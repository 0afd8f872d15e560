"""`zendesk-audit import-csv` and `zendesk-audit export-request`: parse, call, print.

Registered in `commands.py` with `cli.add_command(...)`; the work is in `csv_import` and `export_request`.
"""
from __future__ import annotations

import json
from typing import Any

import click

from zendesk_audit.cli.options import (
    check_detection_rules,
    destination_options,
    detections_dir_option,
    fails_in_one_line,
    filter_options,
    lock_option,
    verbose_option,
)


@click.command("import-csv", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--subdomain", help="The account the CSV came from (default: sources.zendesk_audit.subdomain); labels the rows.")
@click.option(
    "--time-format",
    help="strptime format of the Time column when it is neither ISO 8601 nor a known one, e.g. '%d/%m/%Y %H:%M'.",
)
@destination_options
@lock_option
@click.option("--no-models", is_flag=True, help="Do not build the SQL models after the import.")
@detections_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@verbose_option
@fails_in_one_line
def import_csv_command(
    files: tuple[str, ...],
    subdomain: str | None,
    time_format: str | None,
    destination: str,
    dataset: str,
    duckdb_path: str,
    wait_for_lock: float,
    no_models: bool,
    detections_dir: str | None,
    as_json: bool,
) -> None:
    """Import Admin Center audit-log CSV exports into the audit_logs table (_source = 'csv').

    Columns are mapped by name (Time, Actor, IP address, Item, Activity type, Activity, or the
    API's field names; any case and order); times are UTC. Importing a file twice adds nothing.
    The model csv_api_reconciliation then shows what the CSV and the API load disagree on.
    Exit 0 on success, 2 for a file that cannot be read (file:line: why; nothing imported), 1 for a
    failed load or a bad row after earlier chunks were imported, 4 when the rows were imported and
    the models build after them failed (the summary comes first, then the error line).

    Example: zendesk-audit import-csv audit-log-2024-01.csv --subdomain acme
    """
    from zendesk_audit.errors import AfterLoadError
    from zendesk_audit.load.csv_import import import_csv

    if not no_models:
        check_detection_rules(detections_dir)  # a bad rule fails now, before anything is imported
    try:
        result = import_csv(
            list(files),
            subdomain=subdomain,
            destination=destination,
            dataset_name=dataset,
            duckdb_path=duckdb_path,
            time_format=time_format,
            build_models=not no_models,
            detections_dir=detections_dir,
            wait_for_lock=wait_for_lock,
        )
    except AfterLoadError as exc:  # the rows are in: say so before the error line (exit 4)
        click.echo(json.dumps(exc.result.as_dict(), default=str) if as_json else exc.result.summary_line())
        raise
    click.echo(json.dumps(result.as_dict(), default=str) if as_json else result.summary_line())
    if result.models_summary and not as_json:
        click.echo(result.models_summary)


@click.command("export-request", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--subdomain", help="The account, as in https://SUBDOMAIN.zendesk.com (default: from config).")
@click.option("--base-url", help="Replaces https://SUBDOMAIN.zendesk.com (the sandbox, a proxy).")
@click.option("--start", help="ISO time: only records from then on (default: all history).")
@click.option("--end", help="ISO time: only records until then (default: now, when --start is given).")
@filter_options
@click.option("--wait", is_flag=True, help="Inside Zendesk's one-export-per-minute limit, wait instead of failing.")
@click.option(
    "--max-wait", type=float, default=300.0, show_default=True, help="With --wait: give up after this many seconds."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@verbose_option
@fails_in_one_line
def export_request_command(wait: bool, max_wait: float, as_json: bool, **options: Any) -> None:
    """Ask Zendesk to e-mail the audit log as CSV (POST /api/v2/audit_logs/export), with the load's filters.

    Zendesk accepts one export per minute per account: inside that minute this exits 1 with the
    time to retry, or waits with --wait. The CSV goes to the e-mail of the user whose credentials
    are configured; load it with `zendesk-audit import-csv`.

    Example: zendesk-audit export-request --subdomain acme --start 2024-01-01 --action update
    """
    from zendesk_audit.extract.export_request import request_export

    result = request_export(
        **{key: value for key, value in options.items() if value not in (None, ())}, wait=wait, max_wait=max_wait
    )
    click.echo(json.dumps(result.as_dict()) if as_json else result.summary_line())
