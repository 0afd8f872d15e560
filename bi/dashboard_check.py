"""Open the audit dashboard in headless Chromium, wait for every chart, and print what it shows as JSON.

Runs in Superset's own environment (`.venv-bi`, which has Playwright's Python driver; Playwright drives
Debian's /usr/bin/chromium, no browser download). Used by `make bi-test` (tests/test_superset_dashboard.py)
and by docs/superset_screenshot.py:

    .venv-bi/bin/python bi/dashboard_check.py URL USERNAME [--screenshot PNG] [--item-id ID] [--refresh]

The password comes from DASHBOARDS__SUPERSET__PASSWORD, never from the command line. The output: per
chart (by name) the rows of its data answer (`/api/v1/chart/data`, what ECharts draws on its canvas)
and the text of its cells (what a table shows), plus any error a chart shows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("username")
    parser.add_argument("--slug", default="zendesk-audit")
    parser.add_argument("--screenshot")
    parser.add_argument("--item-id", help="Set the Item id filter to this item.")
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--refresh-until", metavar="FILE",
                        help="Keep refreshing the dashboard (forced, every chart) until FILE exists; then read it.")
    args = parser.parse_args()
    password = os.environ["DASHBOARDS__SUPERSET__PASSWORD"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1900})
        page.goto(f"{args.url}/login/")
        page.fill("input[name=username], #username", args.username)
        page.fill("input[name=password], #password", password)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/login" not in url, timeout=args.timeout * 1000)
        answers: dict[int, dict] = {}

        def on_response(response) -> None:
            if "/api/v1/chart/data" in response.url and response.request.method == "POST":
                try:
                    chart_id = json.loads(response.request.post_data or "{}").get("form_data", {}).get("slice_id")
                except ValueError:
                    chart_id = -1
                try:
                    answers[chart_id] = {"status": response.status, "body": response.json()}
                except Exception as exc:  # noqa: BLE001 - an answer that is not JSON: reported as such
                    answers[chart_id] = {"status": response.status, "error": str(exc)}

        page.on("response", on_response)
        dashboard = f"{args.url}/superset/dashboard/{args.slug}/?standalone=1"
        if args.item_id:
            dashboard += "&native_filters=" + native_filter(args.item_id)
        page.goto(dashboard)
        charts = fetch_charts(page, args.url, args.slug)
        wait_for_charts(page, answers, charts, args.timeout)
        refreshes = []
        if args.refresh_until:
            print("refreshing", file=sys.stderr, flush=True)
            while not os.path.exists(args.refresh_until):
                answers.clear()
                page.reload()
                wait_for_charts(page, answers, charts, args.timeout)
                refreshes.append(sorted({error for answer in answers.values() for error in answer_errors(answer)}))
            answers.clear()
            page.reload()
            wait_for_charts(page, answers, charts, args.timeout)
        shown = {}
        for chart in charts:
            holder = page.locator(f"[data-test-chart-id='{chart['id']}']")
            cells = holder.locator("td").all_inner_texts() if holder.count() else []
            answer = answers.get(chart["id"], {})
            rows = [result.get("data") for result in answer.get("body", {}).get("result", [])] if answer else None
            errors = answer_errors(answer) if answer else ["no data answer"]
            shown[chart["name"]] = {"id": chart["id"], "status": answer.get("status"), "rows": rows,
                                    "cells": cells, "errors": errors,
                                    "text": holder.inner_text() if holder.count() else ""}
        if args.screenshot:
            page.screenshot(path=args.screenshot, full_page=True)
        browser.close()
    json.dump({"charts": shown, "waited_for": len(charts), "refreshes": refreshes}, sys.stdout, default=str)
    return 0


def answer_errors(answer: dict) -> list[str]:
    """What a chart shows instead of its data: Superset's message for a failed query, else nothing."""
    body = answer.get("body") or {}
    found = [str(result["error"]) for result in body.get("result", []) if isinstance(result, dict) and result.get("error")]
    found += [str(error.get("message", error)) for error in body.get("errors", []) if isinstance(error, dict)]
    if body.get("message"):
        found.append(str(body["message"]))
    if answer.get("status") != 200 and not found:
        found.append(f"HTTP {answer.get('status')}: {answer.get('error', '')}")
    return found


def wait_for_charts(page, answers: dict, charts: list[dict], timeout: float) -> None:
    """Until every chart has its data answer and no chart shows a spinner; then its animation's second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        loading = page.locator(".dashboard-component-chart-holder .loading").count()
        drawn = sum(1 for chart in charts if drawn_chart(page, chart["id"]))
        if len(answers) >= len(charts) and loading == 0 and drawn == len(charts):
            break
        page.wait_for_timeout(250)
    page.wait_for_timeout(1000)


def drawn_chart(page, chart_id: int) -> bool:
    """The chart is on screen: its canvas (ECharts), its table cells, or Superset's message in their place."""
    holder = page.locator(f"[data-test-chart-id='{chart_id}']")
    if not holder.count():
        return False
    return bool(holder.locator("canvas, td, .ant-empty, [role=alert], .alert").count()
                or "No results" in holder.inner_text())


def fetch_charts(page, url: str, slug: str) -> list[dict]:
    answer = page.request.get(f"{url}/api/v1/dashboard/{slug}/charts")
    return [{"id": chart["id"], "name": chart["slice_name"]} for chart in answer.json()["result"]]


def native_filter(item_id: str) -> str:
    value = f"!({int(item_id)})"
    return (f"(NATIVE_FILTER-item:(__cache:(label:'{item_id}',validateStatus:!f,value:{value}),"
            f"extraFormData:(filters:!((col:source_id,op:IN,val:{value}))),filterState:(label:'{item_id}',"
            f"validateStatus:!f,value:{value}),id:NATIVE_FILTER-item,ownState:()))")


if __name__ == "__main__":
    sys.exit(main())
