"""`zendesk-audit lake maintain`: parse, call, print; the work is in `zendesk_audit.load.lake_maintenance`.

Registered in `commands.py` with `cli.add_command(lake_group)`.
"""
from __future__ import annotations

import click

from zendesk_audit.cli.options import fails_in_one_line, verbose_option
from zendesk_audit.load.lake_maintenance import DEFAULT_KEEP_DAYS
from zendesk_audit.settings import DEFAULT_DATASET_NAME


@click.group("lake", context_settings={"help_option_names": ["-h", "--help"]})
def lake_group() -> None:
    """A DuckLake's upkeep (--destination ducklake; the lake from [destination.ducklake] in dlt's config).

    Example: zendesk-audit lake maintain --keep-days 90
    """


@lake_group.command("maintain")
@click.option("--dataset", default=DEFAULT_DATASET_NAME, show_default=True, help="The dataset loaded into the lake.")
@click.option("--keep-days", type=click.FloatRange(min=0), default=DEFAULT_KEEP_DAYS, show_default=True,
              help="Expire snapshots older than this; the latest and those an evidence export names are always kept.")
@verbose_option
@fails_in_one_line
def maintain_command(dataset: str, keep_days: float) -> None:
    """Merge the lake's small Parquet files and expire old snapshots, then delete unread files.

    Rows the catalog holds inline go to Parquet, small files of a table are merged, snapshots older
    than --keep-days are expired except the latest and every snapshot an evidence export was read
    from (so `evidence --as-of` keeps working), and files no kept snapshot reads are deleted.
    Run it from a scheduler, e.g. weekly, while loads go on.

    Example: zendesk-audit lake maintain --keep-days 90
    """
    from zendesk_audit.load.lake_maintenance import maintain
    from zendesk_audit.load.pipeline import create_pipeline

    click.echo(maintain(create_pipeline("ducklake", dataset), keep_days=keep_days).summary_line())
