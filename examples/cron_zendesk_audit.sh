#!/bin/sh
# cron recipe: load the Zendesk audit log every hour, models included; one line per run in the log.
#
#   7 * * * *  /opt/zendesk-audit/examples/cron_zendesk_audit.sh >> /var/log/zendesk-audit.log 2>&1
#
# Environment (here, or in /opt/zendesk-audit/.dlt/secrets.toml, which the command reads from its
# working directory):
#   SOURCES__ZENDESK_AUDIT__SUBDOMAIN, SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID and
#   __CLIENT_SECRET (or __ACCESS_TOKEN); several accounts: SOURCES__ZENDESK_AUDIT__SUBDOMAINS and
#   SOURCES__ZENDESK_AUDIT__ACCOUNTS__<SUBDOMAIN>__CREDENTIALS__*.
# State: on one machine the local dlt folder (~/.dlt or DLT_DATA_DIR) and the DuckDB file persist;
# the load lock makes an overlapping run exit 1 with one line instead of loading twice.
# Exit codes: 0 loaded, 1 failed run (retry next hour), 2 configuration to fix.
set -eu
cd "${ZENDESK_AUDIT_HOME:-/opt/zendesk-audit}"
exec "${ZENDESK_AUDIT_BIN:-.venv/bin/zendesk-audit}" load --progress log --wait-for-lock 600 \
    --duckdb-path "${ZENDESK_AUDIT_DUCKDB_PATH:-zendesk.duckdb}"
