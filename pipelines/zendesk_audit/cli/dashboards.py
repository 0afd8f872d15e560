"""`zendesk-audit dashboards superset`: the audit dashboard into the team's Superset, or into a zip.

Registered in `commands.py`; parsing and printing only, the work is in
`zendesk_audit.dashboards.superset`.
"""
from __future__ import annotations

import click

from zendesk_audit.cli.options import destination_options, fails_in_one_line
from zendesk_audit.dashboards.superset import connection_for, import_bundle, superset_login, write_bundle


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
