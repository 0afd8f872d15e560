"""The README's dashboard screenshot, from the current code: `make bi-screenshot`.

Loads the sandbox as `make demo` does (20,000 records, into a temporary DuckDB file), starts a fresh
Superset from `.venv-bi` on a free loopback port (a copy of the metadata database `make bi-install`
initialised), imports the dashboard with `zendesk-audit dashboards superset`, and has headless Chromium
(`bi/dashboard_check.py`) draw it with one item chosen in the filter bar:

- docs/superset-dashboard.png: the whole dashboard at 1,600 px.

Needs `make bi-install` (Superset in .venv-bi) and Chromium (`make browser`).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

from zendesk_audit.cli.demo import run_demo

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
BI = ROOT / ".venv-bi" / "bin"
TEMPLATE_HOME = ROOT / ".superset-bi"
PNG = DOCS / "superset-dashboard.png"


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def main() -> None:
    if not (TEMPLATE_HOME / ".initialised").exists():
        sys.exit("superset_screenshot: run `make bi-install` first (Superset in .venv-bi)")
    with tempfile.TemporaryDirectory(prefix="zendesk-audit-superset-") as folder:
        work = Path(folder)
        database = work / "zendesk_demo.duckdb"
        for line in run_demo(20_000, str(database)):
            print(line)
        with duckdb.connect(str(database), read_only=True) as connection:
            (item,) = connection.execute(
                "select source_id from zendesk_audit_models.item_history "
                "group by 1 having count(*) between 6 and 12 order by count(*) desc, 1 limit 1").fetchone()
        home = work / "superset-home"
        home.mkdir()
        for name in ("superset.db", "secret_key", "admin_password"):
            shutil.copy(TEMPLATE_HOME / name, home / name)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "SUPERSET_HOME": str(home), "DASHBOARDS__SUPERSET__URL": url,
               "DASHBOARDS__SUPERSET__USERNAME": "admin",
               "DASHBOARDS__SUPERSET__PASSWORD": (home / "admin_password").read_text().strip()}
        with (home / "server.log").open("w") as log:
            server = subprocess.Popen([str(ROOT / "bi" / "superset.sh"), "serve", str(port)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if requests.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"superset_screenshot: Superset did not start, see {home / 'server.log'}")
                time.sleep(0.5)
            subprocess.run([sys.executable, "-m", "zendesk_audit", "dashboards", "superset", "--duckdb-path",
                            str(database)], env=env, check=True)
            shown = subprocess.run([str(BI / "python"), str(ROOT / "bi" / "dashboard_check.py"), url, "admin",
                                    "--item-id", str(item), "--screenshot", str(PNG)],
                                   env=env, check=True, capture_output=True, text=True)
            charts = json.loads(shown.stdout)["charts"]
            failed = {name: chart["errors"] for name, chart in charts.items() if chart["errors"]}
            if failed:
                sys.exit(f"superset_screenshot: charts failed: {failed}")
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
    print(f"docs/{PNG.name}: {PNG.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
