"""Superset's settings for the local try-out (`make bi`) and `make bi-test`: SUPERSET_CONFIG_PATH points here.

Everything Superset writes goes to SUPERSET_HOME (`.superset-bi/` in the repository, gitignored): the
SQLite metadata database and the secret key, generated once per install by `bi/superset.sh`
and never committed. A team's own Superset keeps its own settings: `zendesk-audit dashboards
superset` needs nothing from this file.
"""
import os
from pathlib import Path

_HOME = Path(os.environ.get("SUPERSET_HOME") or Path(__file__).resolve().parents[1] / ".superset-bi")

SECRET_KEY = (_HOME / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_HOME / 'superset.db'}?check_same_thread=false"

# No cache anywhere (Superset's default too, said here because the dashboard must show the rows
# of the last load at the next refresh, not a cached answer).
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}

# Loopback only, no HTTPS: the Content-Security-Policy headers are for a served deployment.
TALISMAN_ENABLED = False
# The charts' own filters ("one item's history" asks for an item id) and the native filter bar.
FEATURE_FLAGS = {"DASHBOARD_NATIVE_FILTERS": True}
