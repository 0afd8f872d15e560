#!/usr/bin/env bash
# `make bi`: Superset on loopback with the audit dashboard on a DuckDB file, until Ctrl-C.
#
#   bi/try_out.sh ZENDESK_AUDIT DUCKDB_FILE PORT
#
# Starts Superset (bi/superset.sh serve), imports the dashboard through Superset's REST API with
# `zendesk-audit dashboards superset` (the login from the environment, as a team would set it), then
# prints the URL and the login. Superset opens the file read-only and holds no connection between
# queries, so `zendesk-audit load --wait-for-lock 60` can run in another terminal meanwhile.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLI="$1" DATABASE="$2" PORT="${3:-8088}"
HOME_DIR="${SUPERSET_HOME:-$ROOT/.superset-bi}"
URL="http://127.0.0.1:$PORT"
LOG="$HOME_DIR/server.log"

"$ROOT/bi/superset.sh" serve "$PORT" >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 240); do
  "${BI_VENV:-$ROOT/.venv-bi}/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "$URL/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { echo "Superset did not start: see $LOG" >&2; exit 1; }
  sleep 0.5
done
DASHBOARDS__SUPERSET__URL="$URL" DASHBOARDS__SUPERSET__USERNAME=admin \
  DASHBOARDS__SUPERSET__PASSWORD="$(cat "$HOME_DIR/admin_password")" \
  "$CLI" dashboards superset --duckdb-path "$DATABASE"
echo "Superset: $URL/superset/dashboard/zendesk-audit/"
echo "login: admin / $(cat "$HOME_DIR/admin_password")   (the password is in $HOME_DIR/admin_password)"
echo "Superset's log: $LOG; Ctrl-C stops it"
wait "$SERVER"
