"""The loader against baselines on one sandbox process: records/s, peak memory, pacing, no-op cost.

Each measurement runs in this process tree against the same sandbox, started as its own process
(`zendesk-audit sandbox`) so that the server does not share an interpreter with what is measured.
"""
from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
CREDENTIALS = ("admin@acme.example/token", "sandbox-api-token")


@dataclass
class Measure:
    records: int
    seconds: float
    peak_rss_mb: float | None = None
    extra: dict[str, Any] | None = None
    # CPU time (user + system) of the measured child process, for "cores busy" = cpu / wall.
    cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


class SandboxProcess:
    """`zendesk-audit sandbox` in a child process; its first stdout line is the base URL."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zendesk_audit", "sandbox", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def counters(self) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/_sandbox/counters", timeout=10).json()

    def reset(self) -> None:
        requests.post(f"{self.base_url}/_sandbox/reset_counters", timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def walk_pages(base_url: str, limit: int | None = None):  # noqa: ANN201 - a plain generator of pages
    """Cursor pagination, oldest first, as every baseline does it (the practical way through the API)."""
    session = requests.Session()
    session.auth = CREDENTIALS
    params: dict[str, Any] = {"page[size]": 100, "sort": "created_at"}
    seen = 0
    while True:
        body = session.get(f"{base_url}/api/v2/audit_logs", params=params, timeout=60).json()
        yield body["audit_logs"]
        seen += len(body["audit_logs"])
        if not body["meta"]["has_more"] or (limit and seen >= limit):
            return
        params["page[after]"] = body["meta"]["after_cursor"]


def raw_walk(base_url: str) -> Measure:
    """The sandbox alone: cursor pages over one keep-alive connection, bodies read but not decoded
    (the cursor is cut out of the bytes), so what limits it is the sandbox, not the client."""
    import base64
    import http.client
    import re
    from urllib.parse import urlsplit

    split = urlsplit(base_url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=60)
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(CREDENTIALS).encode()).decode()}
    first = "/api/v2/audit_logs?page%5Bsize%5D=100&sort=created_at"
    cursor = re.compile(rb'"after_cursor":"([^"]*)"')
    path, pages = first, 0
    started = time.perf_counter()
    while True:
        connection.request("GET", path, headers=headers)
        body = connection.getresponse().read()
        pages += 1
        if b'"has_more":false' in body:
            break
        path = f"{first}&page%5Bafter%5D={cursor.search(body).group(1).decode()}"  # type: ignore[union-attr]
    seconds = time.perf_counter() - started
    connection.close()
    records = body.count(b'"id":') + 100 * (pages - 1)
    return Measure(records, seconds)


def fetch_only(base_url: str, limit: int | None = None) -> Measure:
    """The ceiling: the baselines' page walk, nothing else (CPU time: this process's, in which nothing else runs then)."""
    started, cpu = time.perf_counter(), time.process_time()
    records = sum(len(page) for page in walk_pages(base_url, limit))
    return Measure(records, time.perf_counter() - started, cpu_seconds=time.process_time() - cpu)


def seed_script(base_url: str, limit: int | None, out: Path) -> Measure:
    """What many teams run: requests + pandas, one DataFrame per page appended to a CSV.

    pandas comes from `bench/.baseline-deps` (see the Makefile, and `run.py`, which puts it on the
    path), so that the loader's own environment stays as `make install` leaves it.
    """
    if str(HERE / ".baseline-deps") not in sys.path:
        sys.path.append(str(HERE / ".baseline-deps"))
    import pandas as pd

    started = time.perf_counter()
    records = 0
    for number, page in enumerate(walk_pages(base_url, limit)):
        frame = pd.DataFrame(page)
        frame.to_csv(out, mode="a", header=number == 0, index=False, quoting=csv.QUOTE_MINIMAL)
        records += len(frame)
    return Measure(records, time.perf_counter() - started)


def plain_dlt(base_url: str, limit: int | None, workdir: Path) -> Measure:
    """A dlt resource yielding dicts with dlt's defaults (insert_values into DuckDB)."""
    import dlt

    @dlt.resource(name="audit_logs", primary_key="id", write_disposition="merge")
    def audit_logs():  # noqa: ANN202
        yield from walk_pages(base_url, limit)

    pipeline = dlt.pipeline("bench_plain", destination=dlt.destinations.duckdb(str(workdir / "plain.duckdb")),
                            dataset_name="raw", pipelines_dir=str(workdir / "plain-state"))
    started = time.perf_counter()
    pipeline.run(audit_logs())
    seconds = time.perf_counter() - started
    return Measure(pipeline.last_trace.last_normalize_info.row_counts["audit_logs"], seconds)


def loader(base_url: str, workdir: Path, *args: str, env: dict[str, str] | None = None) -> Measure:
    """`zendesk-audit load --json` in a child process: wall time and the child's peak RSS."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")},
        "DLT_DATA_DIR": str(workdir / "dlt"),
        "SOURCES__ZENDESK_AUDIT__BASE_URL": base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": "sandbox-client",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": "sandbox-secret",
        **(env or {}),
    }
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(
        [sys.executable, "-m", "zendesk_audit", "load", "--json", *args],
        cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, err = child.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if child.returncode != 0:
        raise SystemExit(f"load failed ({child.returncode}): {err.strip().splitlines()[-1:]}")
    import json

    summary = json.loads(out)
    return Measure(summary["records_loaded"], seconds, summary["peak_rss_mb"], summary, cpu)


@dataclass
class BudgetRun:
    """One backfill against a rate-limited sandbox: how much of a whole limit window it used."""

    limit: int
    window: float
    latency_ms: int
    offset_count: bool
    records: int
    window_share: float | None  # of the limit, in the first whole window (None: the run was shorter)
    rate_limited_share: float  # of all requests, answered 429
    extra_share: float  # of list requests: beyond the pages the records fill (count probes, windows' last pages)
    seconds: float
    list_requests: int


def budget_run(limit: int, window: float, latency_ms: int, offset_count: bool, seconds: float = 75.0) -> BudgetRun:
    """A full backfill sized to last about `seconds` at the limit, `--rate-limit-share 1.0`.

    The sandbox's first limit window starts with the loader's first request, so the first window
    that ends while the loader still runs is a real, whole window: startup included.
    """
    records = int(limit / window * seconds * 100)
    sandbox = SandboxProcess("--records", str(records), "--seed", "3", "--latency-ms", str(latency_ms),
                             "--rate-limit", str(limit), "--rate-window", str(window),
                             "--offset-count", "on" if offset_count else "off")
    try:
        started = time.perf_counter()
        result = loader(sandbox.base_url, workdir(), "--no-models", "--rate-limit-share", "1.0")
        elapsed = time.perf_counter() - started
        counters = sandbox.counters()
    finally:
        sandbox.stop()
    windows = counters["rate_windows"]
    first = windows[0] if windows and windows[0]["ended"] and len(windows) > 1 else None
    answered = counters["list_requests"] - counters["rate_limited"]
    pages_needed = -(-result.records // 100)
    return BudgetRun(
        limit=limit, window=window, latency_ms=latency_ms, offset_count=offset_count, records=result.records,
        window_share=(first["requests"] - first["rate_limited"]) / limit if first else None,
        rate_limited_share=counters["rate_limited"] / max(1, counters["requests_total"]),
        extra_share=(answered - pages_needed) / max(1, counters["list_requests"]),
        seconds=elapsed, list_requests=counters["list_requests"],
    )


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="bench-"))
