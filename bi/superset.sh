#!/usr/bin/env bash
# The local try-out (`make bi`) and the browser test's Superset: initialise once, then import and serve.
#
#   bi/superset.sh init             the metadata database, the secret key, the admin login (once per install)
#   bi/superset.sh serve PORT       Superset on 127.0.0.1:PORT (in the foreground)
#
# SUPERSET_HOME (default .superset-bi/ in the repository, gitignored) holds the SQLite metadata
# database and the secret key, generated here per install and never committed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BI_VENV:-$ROOT/.venv-bi}/bin"
export SUPERSET_HOME="${SUPERSET_HOME:-$ROOT/.superset-bi}"
export SUPERSET_CONFIG_PATH="${SUPERSET_CONFIG_PATH:-$ROOT/bi/superset_config.py}"
export FLASK_APP=superset
ADMIN_USER="${BI_ADMIN_USER:-admin}"

case "${1:-}" in
  init)
    mkdir -p "$SUPERSET_HOME"
    chmod 700 "$SUPERSET_HOME"
    [ -s "$SUPERSET_HOME/secret_key" ] || (umask 077 && "$BIN/python" -c "import secrets; print(secrets.token_urlsafe(42))" > "$SUPERSET_HOME/secret_key")
    [ -s "$SUPERSET_HOME/admin_password" ] || (umask 077 && "$BIN/python" -c "import secrets; print(secrets.token_urlsafe(12))" > "$SUPERSET_HOME/admin_password")
    STAMP="${BI_VENV:-$ROOT/.venv-bi}/.installed"
    if [ -f "$SUPERSET_HOME/.initialised" ] && [ "$STAMP" -nt "$SUPERSET_HOME/.initialised" ]; then
      # Superset was (re)installed since: its metadata database follows its migrations.
      "$BIN/superset" db upgrade >"$SUPERSET_HOME/init.log" 2>&1
      "$BIN/superset" init >>"$SUPERSET_HOME/init.log" 2>&1
      touch "$SUPERSET_HOME/.initialised"
    fi
    if [ ! -f "$SUPERSET_HOME/.initialised" ]; then
      "$BIN/superset" db upgrade >"$SUPERSET_HOME/init.log" 2>&1
      "$BIN/superset" fab create-admin --username "$ADMIN_USER" --firstname Audit --lastname Admin \
        --email admin@localhost --password "$(cat "$SUPERSET_HOME/admin_password")" >>"$SUPERSET_HOME/init.log" 2>&1
      "$BIN/superset" init >>"$SUPERSET_HOME/init.log" 2>&1
      touch "$SUPERSET_HOME/.initialised"
    fi
    ;;
  serve)
    exec "$BIN/gunicorn" --workers 1 --threads 8 --timeout 120 --bind "127.0.0.1:${2:-8088}" \
      --access-logfile - "superset.app:create_app()"
    ;;
  *)
    echo "usage: bi/superset.sh init | serve PORT" >&2
    exit 2
    ;;
esac
