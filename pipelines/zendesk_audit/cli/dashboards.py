"""`zendesk-audit dashboards superset`: the audit dashboard into the team's Superset, or into a zip.

Registered in `commands.py`; parsing and printing only, the work is in
`zendesk_audit.dashboards` (`superset`: the bundle and its import; `read_copy`: the DuckDB copy
the dashboards read).
"""
from __future__ import annotations

import click

from zendesk_audit.cli.options import destination_options, fails_in_one_line, lock_option
from zendesk_audit.dashboards.read_copy import publish_read_copy
from zendesk_audit.dashboards.superset import connection_for, import_bundle, superset_login, write_bundle
from zendesk_audit.settings import DEFAULT_DUCKDB_PATH


@click.group("dashboards", context_settings={"help_option_names": ["-h", "--help"]})
def dashboards_group() -> None:
    """Dashboards on the marts in the BI tool the team runs (Apache Superset).

    Example: zendesk-audit dashboards superset --url http://127.0.0.1:8088 --username admin
    """


@dashboards_group.command("superset")
@destination_options
@click.option("--url", help="Superset's address (default: config dashboards.superset.url).")
@click.option("--username", help="The Superset user who imports (default: config dashboards.superset.username); "
                                  "the password comes from dashboards.superset.password in secrets.toml or "
                                  "DASHBOARDS__SUPERSET__PASSWORD.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the bundle (a zip for Superset's Dashboards > Import) instead of importing it.")
@fails_in_one_line
def superset_command(destination: str, dataset: str, duckdb_path: str, url: str | None, username: str | None,
                     out: str | None) -> None:
    """Import the audit dashboard into Superset, with its database connection and datasets.

    The connection goes to the same destination as `load` (the DuckDB file, opened read-only, or
    PostgreSQL); running it again updates the connection, datasets, charts and dashboard in place.

    Example: zendesk-audit dashboards superset --out zendesk-audit-dashboard.zip
    """
    connection = connection_for(destination, dataset, duckdb_path)
    if out:
        size = write_bundle(out, connection)
        click.echo(f"wrote the Superset bundle to {out} ({size:,} bytes) for {connection.shown()}")
        return
    click.echo(import_bundle(superset_login(url, username), connection).summary_line())


@dashboards_group.command("publish")
@click.option("--duckdb-path", default=DEFAULT_DUCKDB_PATH, show_default=True, help="The loaded DuckDB file.")
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False),
              help="The read copy the dashboards open (replaced in one step at each publish).")
@lock_option
@fails_in_one_line
def publish_command(duckdb_path: str, target: str, wait_for_lock: float) -> None:
    """Copy the DuckDB file for the dashboards, so that loads and dashboards never wait for each other.

    Run it after each load (`zendesk-audit load && zendesk-audit dashboards publish --to ...`) and point
    Superset at the copy (`dashboards superset --duckdb-path` the copy). PostgreSQL needs none.

    Example: zendesk-audit dashboards publish --to /srv/bi/zendesk.duckdb --wait-for-lock 60
    """
    click.echo(publish_read_copy(duckdb_path, target, wait_for_lock).summary_line())
