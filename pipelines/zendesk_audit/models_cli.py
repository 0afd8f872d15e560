"""`zendesk-audit models`: build the SQL models (the dbt project `sql/`) and show their status.

Registered in `cli.py` with `cli.add_command(models_group)`; parsing and printing only, the work
is in `zendesk_audit.models`.
"""
from __future__ import annotations

import json
import os
from typing import Any

import click

from zendesk_audit.cli_options import destination_options, fails_in_one_line


def _pipeline(destination: str, dataset: str, duckdb_path: str) -> Any:
    from zendesk_audit.errors import ConfigurationError
    from zendesk_audit.pipeline import create_pipeline

    if destination in ("", "duckdb") and not os.path.exists(duckdb_path):
        raise ConfigurationError(
            f"no DuckDB file at {duckdb_path}: run `zendesk-audit load` first or pass --duckdb-path"
        )
    if destination == "filesystem":
        raise ConfigurationError(
            "the filesystem destination has no SQL engine: run sql/ as a dbt project with dbt-spark "
            "(session mode) over the Parquet files, see the README's SQL models section"
        )
    return create_pipeline(destination, dataset, duckdb_path)


@click.group("models", context_settings={"help_option_names": ["-h", "--help"]})
def models_group() -> None:
    """The SQL models (a dbt project): marts and views in the schema <dataset>_models.

    Example: zendesk-audit models build
    """


@models_group.command("build")
@destination_options
@click.option("--time-zone", help="IANA zone for local times; default: config models.time_zone, then the account's, then UTC.")
@click.option("--sql-dir", type=click.Path(file_okay=False), help="The dbt project (default: the project's sql/).")
@click.option("--seeds-dir", type=click.Path(file_okay=False), help="The seed CSV folder (default: <sql-dir>/seeds).")
@click.option("--full-refresh", is_flag=True, help="Rebuild every mart from all records, not only what new loads touched.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@fails_in_one_line
def build_command(
    destination: str,
    dataset: str,
    duckdb_path: str,
    time_zone: str | None,
    sql_dir: str | None,
    seeds_dir: str | None,
    full_refresh: bool,
    as_json: bool,
) -> None:
    """Run the dbt project: rebuild what changed, refresh the marts with what new loads touched.

    A changed model, seed or time zone rebuilds it and what depends on it; the incremental marts
    re-read only the days (or items) the loads since the last build touched.

    Exit 0 on success, 1 when a model fails on the destination (it keeps its previous rows), 2 on
    a bad seed row, time zone or project.

    Example: zendesk-audit models build --destination postgres --dataset zendesk_audit
    """
    from zendesk_audit.models import build_models

    result = build_models(
        _pipeline(destination, dataset, duckdb_path), time_zone=time_zone, sql_dir=sql_dir, seeds_dir=seeds_dir,
        full_refresh=full_refresh,
    )
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    click.echo(result.summary_line())
    for outcome in result.models:
        if outcome.action == "built":
            click.echo(f"  built {outcome.name} (version {outcome.version}: {outcome.reason})")


@models_group.command("status")
@destination_options
@click.option("--sql-dir", type=click.Path(file_okay=False), help="The dbt project (default: the project's sql/).")
@click.option("--seeds-dir", type=click.Path(file_okay=False), help="The seed CSV folder (default: <sql-dir>/seeds).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per model.")
@fails_in_one_line
def status_command(
    destination: str, dataset: str, duckdb_path: str, sql_dir: str | None, seeds_dir: str | None, as_json: bool
) -> None:
    """List each model with its version, the version built and when, its state, then each account's time zone.

    The version is the dbt model version of a public mart (`sensitive_changes` reads the latest,
    `sensitive_changes_v1` pins one); staging and intermediate models have none ("-").

    The time zones are those of the built views: where each came from (configured, account_settings
    or utc_fallback) and, for utc_fallback, why and how to fix it.

    Example: zendesk-audit models status --duckdb-path zendesk.duckdb
    """
    from zendesk_audit.models import model_status, model_time_zones

    pipeline = _pipeline(destination, dataset, duckdb_path)
    statuses = model_status(pipeline, sql_dir=sql_dir, seeds_dir=seeds_dir)
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
        click.echo(f"{status.name:<42} {status.layer:<13} {version:>4} {built:>5}  {status.state:<13} {when}")
    zones = model_time_zones(pipeline)
    click.echo("time zones:" if zones else "time zones: none yet (no records in the views, or the models are not built)")
    for zone in zones:
        click.echo(f"  {zone.line()}")
