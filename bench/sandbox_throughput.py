"""Sandbox throughput: startup time, peak RSS, and cursor pages/s over one keep-alive connection.

Run: `.venv/bin/python bench/sandbox_throughput.py [--records 1000000] [--seconds 5]`.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import resource
import time
from urllib.parse import urlsplit

from zendesk_sandbox import Sandbox, SandboxConfig

PATH = "/api/v2/audit_logs?page%5Bsize%5D=100&sort=created_at"


def fetch_pages(base_url: str, config: SandboxConfig, seconds: float) -> tuple[int, int, float]:
    """Walk cursor pages for about `seconds`; returns (pages, records, elapsed)."""
    split = urlsplit(base_url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    token = base64.b64encode(f"{config.email}/token:{config.api_token}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    pages = records = 0
    path = PATH
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"unexpected {response.status}: {body}")
        pages += 1
        records += len(body["audit_logs"])
        meta = body["meta"]
        path = (f"{PATH}&page%5Bafter%5D={meta['after_cursor']}" if meta["has_more"] else PATH)
    elapsed = time.perf_counter() - started
    connection.close()
    return pages, records, elapsed


def main(argv: list[str] | None = None) -> None:
    """Start an in-process sandbox, measure, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    config = SandboxConfig(records=args.records)
    started = time.perf_counter()
    with Sandbox(config) as sandbox:
        startup = time.perf_counter() - started
        pages, records, elapsed = fetch_pages(sandbox.base_url, config, args.seconds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| sandbox ({args.records:,} records) | value |")
    print("|---|---|")
    print(f"| startup | {startup:.2f} s |")
    print(f"| peak RSS | {peak_mb:,.0f} MB |")
    print(f"| cursor pages/s (page[size]=100, one keep-alive client) | {pages / elapsed:,.0f} |")
    print(f"| records/s | {records / elapsed:,.0f} |")


if __name__ == "__main__":
    main()
