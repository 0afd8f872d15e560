"""The `zendesk-audit` command: parse, call the library, print. No logic lives here.

Known failures (ZendeskAuditError, dlt configuration errors) end in one line on stderr with exit 2
for usage or configuration, 1 for a failed run; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from dlt.common.configuration.exceptions import ConfigurationException

from zendesk_audit.errors import ZendeskAuditError
from zendesk_audit.pipeline import first_line
from zendesk_audit.sandbox.command import sandbox_command
from zendesk_audit.settings import DEFAULT_DATASET_NAME, DEFAULT_DUCKDB_PATH

F = TypeVar("F", bound=Callable[..., Any])


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("zendesk_audit")
    if not logger.handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def fails_in_one_line(func: F) -> F:
    """Turn the errors a user can fix into one line and an exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ZendeskAuditError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except ConfigurationException as exc:
            click.echo(f"error: configuration: {first_line(exc)}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Load the Zendesk audit log into a warehouse and model it for audits.

    Example: zendesk-audit load --subdomain acme
    """
    _setup_logging()


@cli.command()
@click.option("--subdomain", help="The account, as in https://SUBDOMAIN.zendesk.com; labels the rows.")
@click.option("--base-url", help="Replaces https://SUBDOMAIN.zendesk.com (the sandbox, a proxy).")
@click.option("--start", help="ISO time to start from when there is no state yet (default: all history).")
@click.option("--end", help="ISO time to stop at: a bounded backfill or re-scan; leaves the cursor alone.")
@click.option("--lag-seconds", type=int, help="Stop this far behind now (default 300: Zendesk is eventually consistent).")
@click.option(
    "--action", "actions", multiple=True, help="Only these actions (repeatable): create, update, destroy, login, exported."
)
@click.option("--actor-id", "actor_ids", multiple=True, help="Only changes by these actor ids (repeatable).")
@click.option("--source-type", "source_types", multiple=True, help="Only these source types (repeatable), e.g. user, rule.")
@click.option("--source-id", "source_ids", multiple=True, help="Only these item ids (repeatable; needs --source-type).")
@click.option("--ip-address", "ip_addresses", multiple=True, help="Only changes from these IP addresses (repeatable).")
@destination_options
@click.option(
    "--wait-for-lock",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to wait when another load into the same database is running (then fail).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@fails_in_one_line
def load(
    destination: str, dataset: str, duckdb_path: str, as_json: bool, wait_for_lock: float, **source_args: Any
) -> None:
    """Load new audit-log records, exactly once, into the destination.

    Settings not given here come from .dlt/config.toml, .dlt/secrets.toml or SOURCES__ZENDESK_AUDIT__*
    environment variables. Exit 0 on success, 1 on a failed run, 2 on a usage or configuration error.

    Example: zendesk-audit load --subdomain acme --start 2024-01-01
    """
    from zendesk_audit.pipeline import load_account

    result = load_account(
        {key: value for key, value in source_args.items() if value not in (None, ())},
        destination=destination,
        dataset_name=dataset,
        duckdb_path=duckdb_path,
        show_progress=sys.stderr.isatty() and not as_json,
        wait_for_lock=wait_for_lock,
    )
    click.echo(json.dumps(result.as_dict()) if as_json else result.summary_line())


@cli.command()
@click.option("--records", default=20_000, show_default=True, help="How many records the sandbox holds.")
@click.option("--duckdb-path", default="zendesk_demo.duckdb", show_default=True, help="The DuckDB file to load.")
@fails_in_one_line
def demo(records: int, duckdb_path: str) -> None:
    """Start the sandbox in-process, load it into a DuckDB file and show what is there.

    Example: zendesk-audit demo
    """
    from zendesk_audit.demo import run_demo

    for line in run_demo(records=records, duckdb_path=duckdb_path):
        click.echo(line)


cli.add_command(sandbox_command)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="zendesk-audit")
