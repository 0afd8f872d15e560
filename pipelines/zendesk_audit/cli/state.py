"""`zendesk-audit status` and `zendesk-audit repair-cursor`: each account's cursor, and its repair."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from zendesk_audit.cli.options import destination_options, fails_in_one_line, lock_option, verbose_option

F = TypeVar("F", bound=Callable[..., Any])


def _account_options(func: F) -> F:
    """The options that choose the accounts and their window exactly as `load` does."""
    func = click.option(
        "--lag-seconds", type=int, help="As for load (default: from config, else 300): the cursor may not pass now minus it."
    )(func)
    func = click.option(
        "--subdomain",
        "subdomains",
        multiple=True,
        help="The account, as for load: repeat it for several accounts (default: from config).",
    )(func)
    return func


def _print(reports: list[Any], as_json: bool) -> None:
    for report in reports:
        click.echo(json.dumps(report.as_dict()) if as_json else report.line())


@click.command("status")
@_account_options
@destination_options
@lock_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per account.")
@verbose_option
@fails_in_one_line
def status_command(
    subdomains: tuple[str, ...], lag_seconds: int | None, destination: str, dataset: str, duckdb_path: str,
    wait_for_lock: float, as_json: bool,
) -> int:
    """Show each account's cursor and the records loaded; flag a cursor that needs repair.

    The cursor is where the next load starts. One later than now minus the lag (saved by an older
    version) makes every load find nothing: the line names the repair-cursor command. Exit 0 when
    every cursor is fine, 2 when one needs repair.

    Example: zendesk-audit status --subdomain acme
    """
    from zendesk_audit.errors import EXIT_OK, EXIT_USAGE
    from zendesk_audit.load.accounts import account_cursors

    reports = account_cursors(subdomains, destination, dataset, duckdb_path, lag_seconds=lag_seconds,
                              wait_for_lock=wait_for_lock)
    _print(reports, as_json)
    return EXIT_USAGE if any(report.ahead for report in reports) else EXIT_OK


@click.command("repair-cursor")
@_account_options
@click.option("--start", help="As for load: where the cursor goes when the account has no record loaded yet.")
@destination_options
@lock_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per account.")
@verbose_option
@fails_in_one_line
def repair_cursor_command(
    subdomains: tuple[str, ...], lag_seconds: int | None, start: str | None, destination: str, dataset: str,
    duckdb_path: str, wait_for_lock: float, as_json: bool,
) -> None:
    """Move a cursor saved later than now minus the lag back to the latest record loaded.

    Older versions saved such a cursor from a --start in the future; every load then found nothing
    and `load` now stops with the command to run. Give it the account and destination options the
    load had. The cursor goes to the latest created_at the API load wrote for the account (or to
    --start when none), in the local state and in the destination's; the next load re-reads from
    there and the merge on (subdomain, id) keeps each record once. A cursor that is fine is left alone.

    Example: zendesk-audit repair-cursor --subdomain acme
    """
    from zendesk_audit.load.accounts import account_cursors

    reports = account_cursors(subdomains, destination, dataset, duckdb_path, start=start, lag_seconds=lag_seconds,
                              repair=True, wait_for_lock=wait_for_lock)
    _print(reports, as_json)
