"""`zendesk-audit sandbox`: run the local audit-log API until SIGINT or SIGTERM."""
from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from zendesk_sandbox.config import CREATED_AT_BOUNDS, LAST_PAGE_CURSORS, SandboxConfig
from zendesk_sandbox.data import RecordStore
from zendesk_sandbox.handle import Sandbox

SAMPLE_CSV_ROWS = 200


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=0, show_default=True, type=int, help="Port; 0 picks a free one.")
@click.option("--records", default=10_000, show_default=True, type=click.IntRange(0),
              help="How many seeded records to serve.")
@click.option("--seed", default=42, show_default=True, type=int, help="Data seed.")
@click.option("--subdomain", default="acme", show_default=True)
@click.option("--email", default="admin@acme.example", show_default=True,
              help="Basic-auth user is EMAIL/token.")
@click.option("--api-token", default="sandbox-api-token", show_default=True,
              help="API token: the Basic password (never accepted as a Bearer token, like Zendesk).")
@click.option("--client-id", default="sandbox-client", show_default=True,
              help="OAuth client id for POST /oauth/tokens.")
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option("--client-scopes", default=None,
              help="Space-separated scopes the OAuth client may ask for (others: 400 invalid_scope); "
                   "default: any scope Zendesk knows.")
@click.option("--export-scope", default="auditlogs:read", show_default=True,
              help="The scope POST /api/v2/audit_logs/export needs from an OAuth token (Zendesk "
                   "does not document it): e.g. write.")
@click.option("--token-ttl", default=1800, show_default=True, type=click.IntRange(1),
              help="Lifetime of OAuth tokens, seconds.")
@click.option("--plan", default="enterprise", show_default=True,
              type=click.Choice(["enterprise", "professional"]),
              help="professional: the audit-log endpoints refuse (see --non-enterprise-answer).")
@click.option("--non-enterprise-answer", default="403", show_default=True,
              type=click.Choice(["403", "404"]),
              help="What the audit-log endpoints answer a non-Enterprise plan: 403 Forbidden or "
                   "404 InvalidEndpoint (Zendesk documents neither).")
@click.option("--no-account", is_flag=True,
              help="Act as a host with no Zendesk account: every API path answers 404 InvalidEndpoint.")
@click.option("--settings-scope", default="read", show_default=True,
              help="Scope an OAuth token needs for GET /api/v2/account/settings ('' for none); "
                   "API tokens always may read them.")
@click.option("--time-zone", default="Europe/Paris", show_default=True,
              help="IANA time zone of the account (office hours follow it).")
@click.option("--history-days", default=365, show_default=True, type=click.IntRange(1))
@click.option("--latency-ms", default=0.0, show_default=True, type=float)
@click.option("--rate-limit", default=None, type=click.IntRange(1),
              help="Requests per window; default: no limit.")
@click.option("--rate-window", default=60.0, show_default=True, type=float)
@click.option("--fault-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of requests answered with a fault (429, 5xx, reset, truncated).")
@click.option("--fault-seed", default=0, show_default=True, type=int)
@click.option("--last-page-cursor", default="empty", show_default=True,
              type=click.Choice(LAST_PAGE_CURSORS),
              help='How the last cursor page (and an empty one) writes the cursor and link it '
                   'has none for: empty is Zendesk\'s "", or null, absent, or a real cursor.')
@click.option("--offset-count", default="off", show_default=True, type=click.Choice(["on", "off"]),
              help="Whether offset pages (no page[...] parameter) carry `count`; Zendesk does not promise it.")
@click.option("--write-sample-csv", "sample_csv", type=click.Path(dir_okay=False, writable=True), default=None,
              help=f"Write a sample Admin Center CSV ({SAMPLE_CSV_ROWS} rows of this seed's data, the columns "
                   "Time, Actor, IP address, Item, Activity type, Activity) to this file and exit, to try "
                   "`zendesk-audit import-csv` with.")
@click.option("--created-at-bounds", default="inclusive", show_default=True, type=click.Choice(CREATED_AT_BOUNDS),
              help="Which filter[created_at][] bounds include their second (Zendesk does not say).")
def sandbox_command(host: str, port: int, records: int, seed: int, subdomain: str, email: str,
                    api_token: str, client_id: str, client_secret: str, client_scopes: str | None,
                    export_scope: str, token_ttl: int, plan: str, non_enterprise_answer: str,
                    no_account: bool, settings_scope: str, time_zone: str, history_days: int,
                    latency_ms: float,
                    rate_limit: int | None, rate_window: float, fault_rate: float,
                    fault_seed: int, last_page_cursor: str, offset_count: str,
                    sample_csv: str | None, created_at_bounds: str) -> None:
    """Serve a local Zendesk-compatible audit-log API until Ctrl-C or SIGTERM.

    The first line on stdout is the base URL; then the credentials it accepts.

    With --write-sample-csv PATH it only writes a sample Admin Center CSV and exits.

    Example:

        zendesk-audit sandbox --port 8765 --records 100000 --rate-limit 700
    """
    if sample_csv is not None:
        rows = write_sample_csv(sample_csv, seed=seed, subdomain=subdomain, time_zone=time_zone)
        click.echo(f"wrote {rows} Admin Center CSV rows to {sample_csv}; try: "
                   f"zendesk-audit import-csv {sample_csv} --subdomain {subdomain}")
        return
    config = SandboxConfig(
        host=host, port=port, records=records, seed=seed, subdomain=subdomain, email=email,
        api_token=api_token, client_id=client_id, client_secret=client_secret,
        client_scopes=tuple(client_scopes.split()) if client_scopes is not None else None,
        export_scope=export_scope, token_ttl_seconds=token_ttl, plan=plan,
        non_enterprise_answer=int(non_enterprise_answer), no_account=no_account,
        settings_scope=settings_scope, time_zone=_zendesk_zone_name(time_zone),
        iana_time_zone=time_zone, history_days=history_days, latency_ms=latency_ms,
        rate_limit=rate_limit, rate_window=rate_window, fault_rate=fault_rate,
        fault_seed=fault_seed, last_page_cursor=last_page_cursor,
        offset_count=offset_count == "on", created_at_bounds=created_at_bounds)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(config).start()
    try:
        click.echo(sandbox.base_url)
        click.echo(f"Basic auth:   {email}/token : {api_token}", err=False)
        click.echo(f"OAuth:        POST {sandbox.base_url}/oauth/tokens "
                   f"client_id={client_id} client_secret={client_secret}; "
                   "Bearer takes only the tokens it grants")
        click.echo("Point the connector at it:")
        click.echo(f"  export SOURCES__ZENDESK_AUDIT__BASE_URL={sandbox.base_url}")
        click.echo(f"  export SOURCES__ZENDESK_AUDIT__SUBDOMAIN={subdomain}")
        click.echo(f"  export SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID={client_id}")
        click.echo(f"  export SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET={client_secret}")
        click.echo(f"  export SOURCES__ZENDESK_AUDIT__CREDENTIALS__SCOPE=\"{printed_scope(config)}\"")
        click.echo("Then: zendesk-audit load --duckdb-path zendesk_audit.duckdb")
        refusal = "" if plan == "enterprise" else f", audit logs answer {non_enterprise_answer}"
        served = "no account: every API path answers 404" if no_account else f"{plan} plan{refusal}"
        click.echo(f"Serving {records} records ({served}); Ctrl-C or SIGTERM stops.",
                   err=True)
        while not stop.wait(0.2):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def write_sample_csv(path: str, seed: int = 42, subdomain: str = "acme", time_zone: str = "Europe/Paris") -> int:
    """Write `SAMPLE_CSV_ROWS` seeded sandbox records as Admin Center e-mails them; the row count.

    The data's end is pinned (the sandbox's default history end), so the same seed writes the same
    file: `examples/admin-center-sample.csv` is this function's output for the defaults. The rows
    are written by the product's own Admin Center writer, the format `import-csv` reads.
    """
    from zendesk_audit.extract.csv_source import write_admin_center_csv

    config = SandboxConfig(records=SAMPLE_CSV_ROWS, seed=seed, subdomain=subdomain,
                           time_zone=_zendesk_zone_name(time_zone), iana_time_zone=time_zone, history_days=30)
    store = RecordStore(config)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        return write_admin_center_csv((store.record(seq) for seq in store.all_seqs()), handle)


def printed_scope(config: SandboxConfig) -> str:
    """The OAuth scope the printed setup asks for: the audit log's, plus the one that reads the
    account settings, so that a first load gets the account's time zone instead of UTC.

    Without the settings scope (what the connector asks for by default, like Zendesk's docs) the
    first load falls back to UTC and says so; the sandbox's setup should lead to the right answer.
    A settings scope the client may not ask for (`--client-scopes`) is left out: asking for it
    would be refused with 400 invalid_scope.
    """
    scopes = ["auditlogs:read"]
    wanted = config.settings_scope.strip()
    allowed = config.client_scopes is None or wanted in config.client_scopes
    if wanted and wanted not in scopes and allowed:
        scopes.append(wanted)
    return " ".join(scopes)


def _zendesk_zone_name(iana: str) -> str:
    """Zendesk's display name for a zone: the city part ("Europe/Paris" -> "Paris")."""
    return iana.rsplit("/", 1)[-1].replace("_", " ")
