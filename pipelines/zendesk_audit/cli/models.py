"""`zendesk-audit models`: build the SQL models (the dbt project `sql/`) and show their status.

Registered in `commands.py` with `cli.add_command(models_group)`; parsing and printing only, the work
is in `zendesk_audit.models.build`.
"""
from __future__ import annotations

import json
import os
import shlex

import click

from zendesk_audit.cli.options import (
    check_detection_rules,
    destination_options,
    detections_dir_option,
    fails_in_one_line,
    lock_option,
    verbose_option,
)
from zendesk_audit.load.pipeline import open_database

NO_SQL_MODELS = (
    "the filesystem destination has no SQL engine: run sql/ as a dbt project with dbt-spark "
    "(session mode) over the Parquet files, see docs/models.md, Engines"
)


@click.group("models", context_settings={"help_option_names": ["-h", "--help"]})
def models_group() -> None:
    """The SQL models (a dbt project): marts and views in the schema <dataset>_models.

    Example: zendesk-audit models build
    """


@models_group.command("build")
@destination_options
@lock_option
@click.option("--time-zone", help="IANA zone for local times; default: config models.time_zone, then the account's, then UTC.")
@click.option("--sql-dir", type=click.Path(file_okay=False), help="The dbt project (default: the package's own models).")
@click.option(
    "--seeds-dir",
    type=click.Path(file_okay=False),
    help="The seed CSV folder (default: config models.seeds_dir, then <sql-dir>/seeds); see `models init-seeds`.",
)
@detections_dir_option
@click.option("--full-refresh", is_flag=True, help="Rebuild every mart from all records, not only what new loads touched.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@verbose_option
@fails_in_one_line
def build_command(
    destination: str,
    dataset: str,
    duckdb_path: str,
    wait_for_lock: float,
    time_zone: str | None,
    sql_dir: str | None,
    seeds_dir: str | None,
    detections_dir: str | None,
    full_refresh: bool,
    as_json: bool,
) -> None:
    """Run the dbt project: rebuild what changed, refresh the marts with what new loads touched.

    A changed model, seed, detection rule or time zone rebuilds it and what depends on it; the
    incremental marts re-read only the days (or items) the loads since the last build touched.

    Exit 0 on success, 1 when a model fails on the destination (it keeps its previous rows), 2 on
    a bad seed row, detection rule, time zone or project.

    Example: zendesk-audit models build --destination postgres --dataset zendesk_audit
    """
    from zendesk_audit.models.build import build_models

    check_detection_rules(detections_dir)  # a bad rule fails before the database is opened
    opened = open_database(destination, dataset, duckdb_path, wait_for_lock, read_only=False, no_sql_engine=NO_SQL_MODELS)
    with opened as pipeline:
        result = build_models(pipeline, time_zone=time_zone, sql_dir=sql_dir, seeds_dir=seeds_dir,
                              detections_dir=detections_dir, full_refresh=full_refresh)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    click.echo(result.summary_line())
    for outcome in result.models:
        if outcome.action == "built":
            version = "" if outcome.version is None else f"version {outcome.version}: "
            click.echo(f"  built {outcome.name} ({version}{outcome.reason})")


@models_group.command("status")
@destination_options
@lock_option
@click.option("--sql-dir", type=click.Path(file_okay=False), help="The dbt project (default: the package's own models).")
@click.option(
    "--seeds-dir",
    type=click.Path(file_okay=False),
    help="The seed CSV folder (default: config models.seeds_dir, then <sql-dir>/seeds).",
)
@detections_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model.")
@verbose_option
@fails_in_one_line
def status_command(
    destination: str,
    dataset: str,
    duckdb_path: str,
    wait_for_lock: float,
    sql_dir: str | None,
    seeds_dir: str | None,
    detections_dir: str | None,
    as_json: bool,
) -> None:
    """List each model with its version, the version built and when, its state, then each account's time zone.

    The version is the dbt model version of a public mart (`sensitive_changes` reads the latest,
    `sensitive_changes_v1` pins one); staging and intermediate models have none ("-").

    The time zones are those of the built views: where each came from (configured, account_settings
    or utc_fallback) and, for utc_fallback, why and how to fix it.

    Example: zendesk-audit models status --duckdb-path zendesk.duckdb
    """
    from zendesk_audit.models.build import model_status, model_time_zones, zone_note

    with open_database(destination, dataset, duckdb_path, wait_for_lock, no_sql_engine=NO_SQL_MODELS) as pipeline:
        statuses = model_status(pipeline, sql_dir=sql_dir, seeds_dir=seeds_dir, detections_dir=detections_dir)
        zones = [] if as_json else model_time_zones(pipeline)
        note = None if as_json else zone_note(pipeline)
    if as_json:
        for status in statuses:
            click.echo(json.dumps(status.as_dict()))
        return
    click.echo(f"{'model':<42} {'layer':<13} {'file':>4} {'built':>5}  {'state':<13} built at")
    for status in statuses:
        version = "-" if status.file_version is None else str(status.file_version)
        built = "-" if status.built_version is None else str(status.built_version)
        if status.built_at is None:
            built = "-"
        when = f"{status.built_at:%Y-%m-%d %H:%M:%S}" if status.built_at else "-"
        why = f"  ({status.reason})" if status.reason else ""
        click.echo(f"{status.name:<42} {status.layer:<13} {version:>4} {built:>5}  {status.state:<13} {when}{why}")
    if note:
        click.echo(note)
    click.echo("time zones:" if zones else "time zones: none yet (no records in the views, or the models are not built)")
    for zone in zones:
        click.echo(f"  {zone.line()}")


@models_group.command("init-seeds")
@click.argument("folder", metavar="DIR", type=click.Path())
@click.option("--force", is_flag=True, help="Overwrite seed files that already exist in DIR.")
@fails_in_one_line
def init_seeds_command(folder: str, force: bool) -> None:
    """Write editable copies of the shipped seed CSVs (business hours, holidays, ...) to DIR.

    Then point the models at DIR with --seeds-dir or the config key models.seeds_dir. Exit 2,
    writing nothing, when a seed file already exists there (--force overwrites).

    Example: zendesk-audit models init-seeds ./zendesk-seeds
    """
    from zendesk_audit.models.seeds import init_seeds
    from zendesk_audit.settings import SQL_DIR

    copies = init_seeds(folder, SQL_DIR / "seeds", force=force)
    where = os.path.abspath(folder)
    click.echo(f"wrote {len(copies)} seeds to {where}: {', '.join(copy.name for copy in copies)}")
    click.echo("edit them, then point the models at them, one of:")
    click.echo(f"  .dlt/config.toml:  [models] seeds_dir = '{where}'")
    click.echo(f"  environment:       MODELS__SEEDS_DIR={shlex.quote(where)}")
    click.echo(f"  one build:         zendesk-audit models build --seeds-dir {shlex.quote(where)}")
