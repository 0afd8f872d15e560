"""The audit dashboard in a real Superset, read in headless Chromium, on DuckDB and on PostgreSQL.

Opt-in (`make bi-test`, which installs Superset in `.venv-bi` and runs `pytest -m bi`): each case
takes one to five minutes (Superset, a browser, two loads and a build), over the budget of
`make test`. Three cases: Superset on the loaded DuckDB file, on a copy `dashboards publish` refreshes,
and on PostgreSQL. Each:

1. loads the sandbox with `zendesk-audit load` (the approved-actors seed approves three people, so
   "Changes by actors outside the approved list" has rows);
2. starts a fresh Superset on loopback (a copy of the metadata database `bi/superset.sh init` made)
   and imports the bundle through the REST API with `zendesk-audit dashboards superset`;
3. opens the dashboard in Chromium, waits for every chart, and compares what each shows with the
   marts queried directly (no hard-coded numbers: the sandbox's records decide);
4. adds records to the sandbox, then runs `zendesk-audit load` and `zendesk-audit models build` while
   the browser keeps refreshing the dashboard; both must succeed, and the dashboard read afterwards
   must show the new records (the time-zone chart counts every record). Reloads that failed meanwhile
   are counted and printed: on the loaded file only DuckDB's lock error may appear, on the copy and on
   PostgreSQL none.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import POSTGRES_URL, _postgres_reachable, free_port

ROOT = Path(__file__).resolve().parents[1]
BI_BIN = ROOT / ".venv-bi" / "bin"
TEMPLATE_HOME = Path(os.environ.get("SUPERSET_HOME", ROOT / ".superset-bi"))
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
RECORDS = 1_500
ADDED = 250
APPROVED = ("Zoë Ångström", "José Núñez", "Ada Okafor")

# Superset, Chromium, loads and builds on two shared cores: minutes, not pytest-timeout's default 300 s.
pytestmark = [pytest.mark.bi, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module", autouse=True)
def _opted_in(request: pytest.FixtureRequest) -> None:
    if "bi" not in (request.config.getoption("-m") or ""):
        pytest.skip("opt-in: make bi-test (Superset in .venv-bi, one to five minutes per case)")
    if not (BI_BIN / "superset").exists() or not (TEMPLATE_HOME / ".initialised").exists():
        pytest.fail("Superset is not installed: make bi-test installs it (.venv-bi) and initialises .superset-bi")
    if not CHROMIUM.exists():
        pytest.fail("no Chromium at /usr/bin/chromium: make browser")


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A fresh Superset (its own metadata database, copied from the initialised template) on loopback."""
    home = tmp_path_factory.mktemp("superset-home")
    for name in ("superset.db", "secret_key", "admin_password"):
        shutil.copy(TEMPLATE_HOME / name, home / name)
    port = free_port()
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(ROOT / "bi" / "superset.sh"), "serve", str(port)],
        env={**os.environ, "SUPERSET_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"Superset did not start: {(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield {"url": url, "password": (home / "admin_password").read_text().strip(), "log": home / "server.log"}
    os.killpg(server.pid, 15)
    server.wait(timeout=30)
    log.close()


def _environment(sandbox: Any, superset: dict[str, str], seeds: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SOURCES__", "DESTINATION__"))}
    env.update({
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": sandbox.config.email,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": sandbox.config.api_token,
        "MODELS__SEEDS_DIR": str(seeds),
        "DASHBOARDS__SUPERSET__URL": superset["url"],
        "DASHBOARDS__SUPERSET__USERNAME": "admin",
        "DASHBOARDS__SUPERSET__PASSWORD": superset["password"],
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "pipelines"), os.environ.get("PYTHONPATH")])),
        "DO_NOT_TRACK": "1",
    })
    env.update(extra)
    return env


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "zendesk_audit", *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(env: dict[str, str], cwd: Path, *args: str) -> str:
    process = _cli(env, cwd, *args)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, f"zendesk-audit {' '.join(args)} exited {process.returncode}: {err[-2000:]}"
    return out


def _browser(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BI_BIN / "python"), str(ROOT / "bi" / "dashboard_check.py"), env["DASHBOARDS__SUPERSET__URL"], "admin",
         *args], env={**env, "CHROMIUM": str(CHROMIUM)}, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _shown(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, f"the browser check failed: {err[-3000:]}"
    return json.loads(out)


# ----------------------------------------------------------------------------- the marts' answers
class Marts:
    """The answers each chart must show, straight from the marts (DuckDB file or PostgreSQL schema)."""

    def __init__(self, query: Any, schema: str, week: str, month: str, epoch_ms: str) -> None:
        self.query, self.schema, self.week, self.month, self.epoch_ms = query, schema, week, month, epoch_ms

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.query(sql.format(schema=self.schema))]

    def time_zone(self) -> list[tuple[Any, ...]]:
        return self.rows("select time_zone, time_zone_source, count(*) from {schema}.stg_audit_logs group by 1, 2")

    def actor_totals(self) -> dict[str, int]:
        """Every actor's changes; the chart shows the ten largest, and actors tied at the tenth place
        may be either (neither the chart's query nor SQL orders a tie)."""
        return {name: int(total) for name, total in self.rows(
            "select actor_name, sum(changes) from {schema}.actor_activity_daily group by 1")}

    def by_period(self, table: str, period: str, column: str) -> Counter[tuple[int, str]]:
        truncated = self.epoch_ms.format(f"date_trunc('{period}', created_at_local)")
        return Counter({(int(ms), str(key)): count for ms, key, count in self.rows(
            f"select {truncated}, {column}, count(*) from {{schema}}.{table} group by 1, 2")})

    def unapproved(self) -> dict[str, int]:
        """Every unapproved actor's changes (the chart shows the 15 largest; a tie at the 15th may be either)."""
        return {name: int(count) for name, count in self.rows(
            "select actor_name, count(*) from {schema}.unapproved_actor_changes group by 1")}

    def latest_roles(self) -> list[tuple[Any, ...]]:
        return self.rows("select user_name, product, old_role, new_role, actor_name from {schema}.user_role_history "
                         "order by changed_at_local desc, audit_log_id desc, line_number limit 15")

    def busiest_item(self) -> tuple[int, int]:
        return self.rows("select source_id, count(*) from {schema}.item_history group by 1 "
                         "having count(*) <= 50 order by 2 desc, 1 limit 1")[0]


def _pivot(rows: list[dict[str, Any]], x: str) -> Counter[tuple[int, str]]:
    """An ECharts bar chart's answer (one row per period, one column per series) as (period ms, series) -> n."""
    counts: Counter[tuple[int, str]] = Counter()
    for row in rows:
        for key, value in row.items():
            if key != x and value:
                counts[(int(row[x]), key)] += int(value)
    return counts


def _check_dashboard(shown: dict[str, Any], marts: Marts) -> None:
    charts = shown["charts"]
    assert shown["waited_for"] == 7 and len(charts) == 7
    for name, chart in charts.items():
        assert chart["status"] == 200 and not chart["errors"], f"{name}: {chart}"

    zone = charts["Local times are in this zone"]
    assert [(row["time_zone"], row["time_zone_source"], row["count"]) for row in zone["rows"][0]] == marts.time_zone()
    assert zone["cells"][:2] == list(marts.time_zone()[0][:2])  # the zone and where it came from, on screen

    actors = charts["Most active actors"]
    totals = marts.actor_totals()
    shown_actors = [(row["actor_name"], row["changes"]) for row in actors["rows"][0]]
    assert [count for _, count in shown_actors] == sorted(totals.values(), reverse=True)[:10]
    assert all(totals[name] == count for name, count in shown_actors) and len(dict(shown_actors)) == len(shown_actors)
    assert actors["cells"][0::2] == [name for name, _ in shown_actors]

    off_hours = charts["Changes outside business hours, by week and reason"]
    assert _pivot(off_hours["rows"][0], "created_at_local") == marts.by_period("off_hours_changes", marts.week,
                                                                                "off_hours_reason")
    sensitive = charts["Sensitive changes by severity, per month"]
    assert _pivot(sensitive["rows"][0], "created_at_local") == marts.by_period("sensitive_changes", marts.month,
                                                                                "severity")

    unapproved = charts["Changes by actors outside the approved list"]
    counts = marts.unapproved()
    assert counts and not set(counts) & set(APPROVED)
    shown_unapproved = [(row["actor_name"], row["count"]) for row in unapproved["rows"][0]]
    assert sorted((count for _, count in shown_unapproved), reverse=True) == sorted(counts.values(), reverse=True)[:15]
    assert all(counts[name] == count for name, count in shown_unapproved)
    assert len(dict(shown_unapproved)) == len(shown_unapproved)

    roles = charts["Latest role changes"]
    assert [(row["user_name"], row["product"], row["old_role"], row["new_role"], row["actor_name"])
            for row in roles["rows"][0]] == marts.latest_roles()
    assert roles["cells"][1] == marts.latest_roles()[0][0]


def _scenario(tmp_path: Path, sandbox: Any, superset: dict[str, str], marts_for: Any, destination: dict[str, str],
              cli_args: list[str], read_copy: Path | None = None) -> dict[str, Any]:
    """Load, import, check, then load and build while the dashboard refreshes, and check again.

    With `read_copy`, Superset reads a copy of the DuckDB file that `dashboards publish` refreshes
    after the load and the build (instead of the loaded file itself).
    """
    seeds = tmp_path / "seeds"
    shutil.copytree(ROOT / "sql" / "seeds", seeds)
    people = {record["actor_name"]: record["actor_id"] for record in sandbox.records() if record["actor_id"] > 0}
    (seeds / "approved_actors.csv").write_text(
        "actor_id,actor_name,note,subdomain\n"
        + "".join(f"{people[name]},{name},approved,{sandbox.config.subdomain}\n" for name in APPROVED),
        encoding="utf-8")
    env = _environment(sandbox, superset, seeds, destination)
    publish = ["dashboards", "publish", "--to", str(read_copy), "--wait-for-lock", "120", *cli_args]
    dashboard_args = ["--duckdb-path", str(read_copy)] if read_copy else cli_args
    _run(env, tmp_path, "load", *cli_args)
    if read_copy:
        _run(env, tmp_path, *publish)
    line = _run(env, tmp_path, "dashboards", "superset", *dashboard_args)
    assert "imported the dashboard 'Zendesk audit log' (7 charts)" in line and superset["password"] not in line
    again = _run(env, tmp_path, "dashboards", "superset", *dashboard_args)  # a re-run updates in place
    assert again == line

    marts = marts_for()
    item, changes = marts.busiest_item()
    shown = _shown(_browser(env, "--item-id", str(item)))
    _check_dashboard(shown, marts)
    history = shown["charts"]["One item's history"]["rows"][0]
    assert len(history) == changes and {row["source_id"] for row in history} == {item}
    before = marts.time_zone()[0][2]

    # New records, then a load and a models build while the dashboard keeps refreshing.
    sandbox.append(ADDED, created_at=datetime.now(timezone.utc) - timedelta(hours=2))
    done = tmp_path / "loads-done"
    refresher = _browser(env, "--refresh-until", str(done))
    assert refresher.stderr.readline().strip() == "refreshing"  # the dashboard is open and has drawn once
    started = time.monotonic()
    try:
        _run(env, tmp_path, "load", "--wait-for-lock", "120", *cli_args)
        _run(env, tmp_path, "models", "build", "--wait-for-lock", "120", *cli_args)
        if read_copy:
            _run(env, tmp_path, *publish)
    finally:
        done.touch()
    seconds = time.monotonic() - started
    after = _shown(refresher)
    _check_dashboard(after, marts)
    assert marts.time_zone()[0][2] == before + ADDED
    assert after["charts"]["Local times are in this zone"]["rows"][0][0]["count"] == before + ADDED
    assert after["refreshes"], "the dashboard was not refreshed while the load ran"
    return {"seconds": seconds, "refreshes": after["refreshes"]}


def _duckdb_marts(database: Path) -> Marts:
    """The marts of a DuckDB file, each query on a short read-only connection (as the dashboard's)."""
    import duckdb

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    return Marts(query, "zendesk_audit_models", "week", "month", "epoch_ms({})")


# ----------------------------------------------------------------------------- DuckDB and PostgreSQL
def test_dashboard_on_duckdb_shows_the_marts_and_survives_a_load(tmp_path: Path, superset: dict[str, str]) -> None:
    from zendesk_sandbox.handle import Sandbox

    database = tmp_path / "zendesk.duckdb"

    with Sandbox(records=RECORDS) as sandbox:
        result = _scenario(tmp_path, sandbox, superset, lambda: _duckdb_marts(database), {}, ["--duckdb-path", str(database)])
    failed = [errors for errors in result["refreshes"] if errors]
    print(f"\nDuckDB: load + models build {result['seconds']:.1f} s while the dashboard refreshed "
          f"{len(result['refreshes'])} times; {len(failed)} refreshes showed an error: "
          f"{sorted({error[:90] for errors in failed for error in errors})}")
    # While the loader holds the file, a chart's read-only connection meets its lock: only that error.
    assert all("lock" in error.lower() for errors in failed for error in errors)


def test_dashboard_on_a_duckdb_read_copy_never_waits_for_the_load(tmp_path: Path, superset: dict[str, str]) -> None:
    from zendesk_sandbox.handle import Sandbox

    database, copy = tmp_path / "zendesk.duckdb", tmp_path / "bi" / "zendesk-read.duckdb"
    copy.parent.mkdir()

    with Sandbox(records=RECORDS) as sandbox:
        result = _scenario(tmp_path, sandbox, superset, lambda: _duckdb_marts(database), {},
                           ["--duckdb-path", str(database)], read_copy=copy)
    print(f"\nDuckDB read copy: load + models build + publish {result['seconds']:.1f} s while the dashboard "
          f"refreshed {len(result['refreshes'])} times, none failed")
    assert not [errors for errors in result["refreshes"] if errors]


def test_dashboard_on_postgres_shows_the_marts_and_survives_a_load(tmp_path: Path, superset: dict[str, str]) -> None:
    from zendesk_sandbox.handle import Sandbox

    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    import psycopg2

    dataset = f"zendesk_audit_i30_{os.getpid()}"

    def marts() -> Marts:
        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()

        return Marts(query, f"{dataset}_models", "week", "month",
                     "(extract(epoch from {}) * 1000)::bigint")

    try:
        with Sandbox(records=RECORDS) as sandbox:
            result = _scenario(tmp_path, sandbox, superset, marts,
                               {"DESTINATION__POSTGRES__CREDENTIALS": POSTGRES_URL},
                               ["--destination", "postgres", "--dataset", dataset])
        # No file lock on PostgreSQL: no refresh may fail while the load writes.
        assert not [errors for errors in result["refreshes"] if errors]
        print(f"\nPostgreSQL: load + models build {result['seconds']:.1f} s while the dashboard refreshed "
              f"{len(result['refreshes'])} times, none failed")
    finally:
        with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
            for schema in (dataset, f"{dataset}_models", f"{dataset}_staging"):
                cursor.execute(f'drop schema if exists "{schema}" cascade')
