"""Shared by the report tests: the loaded datasets, the command, and the browser and PDF tools.

Chromium is driven with plain subprocess (no playwright, no selenium): `--dump-dom` shows what the
browser built from a file, `--screenshot` that it painted, `--log-net-log` every request it made.
The PDF is read back with poppler's command-line tools (`pdfinfo`, `pdftoppm`, `pdftotext`,
`pdfimages`). Tests that need one of them skip with the command that installs it.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import duckdb
import pytest
from click.testing import CliRunner

from conftest import load_sandbox
from zendesk_audit.cli.evidence import report_command
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models
from zendesk_audit.settings import SQL_DIR
from zendesk_sandbox import Sandbox

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAS_CHROMIUM = Path(CHROMIUM).exists()
POPPLER = ("pdfinfo", "pdftoppm", "pdftotext", "pdfimages", "pdftohtml")
HAS_POPPLER = all(shutil.which(tool) for tool in POPPLER)
needs_chromium = pytest.mark.skipif(
    not HAS_CHROMIUM, reason="needs Chromium (chromium on the PATH or /usr/bin/chromium): apt-get install -y chromium"
)
needs_poppler = pytest.mark.skipif(
    not HAS_POPPLER, reason="needs poppler's pdfinfo, pdftoppm, pdftotext, pdfimages, pdftohtml: apt-get install -y poppler-utils"
)
# Chromium's own services (component updater, network time, sign-in): not requests of the page.
BROWSER_SERVICE_HOSTS = re.compile(r"^https?://([a-z0-9.-]+\.)?(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[:/]")
LAYOUT_CHECK = Path(__file__).with_name("report_layout_check.js").read_text()
# The width of a printed page's content in CSS pixels (96 per inch): the paper less the report's
# 14 mm side margins (report_html.STYLE's @page).
PAGE_CONTENT_WIDTH = {"a4": round((210 - 28) / 25.4 * 96), "letter": round((215.9 - 28) / 25.4 * 96)}
SIDE_MARGIN_POINTS = 14 / 25.4 * 72
STRESS_ROWS = 25


def build_loaded(folder: Path) -> Path:
    """3,000 sandbox records; models built with one incident where there are changes, and an
    approved-actor list that leaves out the two least active people."""
    path = folder / "zendesk.duckdb"
    with Sandbox(records=3_000, seed=11) as sandbox:
        load_sandbox(sandbox, path)
    with duckdb.connect(str(path), read_only=True) as connection:
        busiest = connection.execute(
            "select max(created_at) from zendesk_audit.audit_logs where actor_id <> -1 and created_at < '2026-09-01'"
        ).fetchone()[0]
        actors = connection.execute(
            "select actor_id, max(actor_name) from zendesk_audit.audit_logs where actor_id <> -1 "
            "group by actor_id order by count(*) desc, actor_id"
        ).fetchall()
    seeds = folder / "seeds"
    shutil.copytree(SQL_DIR / "seeds", seeds)
    started = busiest.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    (seeds / "incidents.csv").write_text(
        f"incident_id,title,started_at,lookback_hours\nINC-7,Tickets routed to the wrong group,{started},72\n"
    )
    approved = "".join(f"{actor_id},{name},\n" for actor_id, name in actors[:-2])
    (seeds / "approved_actors.csv").write_text("actor_id,actor_name,note\n" + approved)
    build_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)), seeds_dir=seeds)
    return path


def build_stress(folder: Path) -> Path:
    """300 records and the values that break layouts: tall rows (multi-line descriptions marked
    ROWSTART-nn/ROWEND-nn), very long names, labels and descriptions without spaces, IPv6."""
    path = folder / "stress.duckdb"
    when = datetime(2026, 10, 20, 1, 0, tzinfo=timezone.utc)
    with Sandbox(records=300, seed=5) as sandbox:
        for number in range(STRESS_ROWS):
            sandbox.append(
                1, created_at=when - timedelta(hours=number), id=6_199_000_001_000 + number, action="update",
                source_type="account_setting", source_label="Two-factor authentication",
                change_description=f"Disabled\nROWSTART-{number:02d}\nfirst line of detail\nsecond line\nthird line\n"
                                   f"ROWEND-{number:02d}",
                actor_name="Maximilian Alexander Wolfeschlegelsteinhausenbergerdorff",
                ip_address="2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            )
        sandbox.append(1, created_at=when, id=6_199_000_002_001, action="create", source_type="api_token",
                       source_label="API token: " + "x" * 120, actor_name="A" * 90, ip_address="203.0.113.254")
        sandbox.append(
            1, created_at=when, id=6_199_000_002_002, action="update", source_type="rule",
            source_label="Trigger: https://example.invalid/a/very/long/path/segment/that/goes/on/and/on?with=query&and=more",
            change_description="Conditions changed from " + "all(ticket.status==open)&&" * 20 + " to something else",
            actor_name="Zoë \u202etxt.exe",
        )
        sandbox.append(
            1, created_at=when, id=6_199_000_002_003, action="exported", source_type="account", source_label="Audit log",
            change_description="Sehr-lange-zusammengesetzte-Donaudampfschifffahrtsgesellschaftskapitänsmütze " * 5,
            actor_name="Priya Raman", ip_address="198.51.100.7",
        )
        load_sandbox(sandbox, path)
    build_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))
    return path


def run_report(database: Path, out: Path, *args: str) -> Any:
    """`zendesk-audit report --out OUT --duckdb-path DATABASE ARGS`, in-process."""
    group = click.Group("zendesk-audit")
    group.add_command(report_command)
    return CliRunner().invoke(group, ["report", "--out", str(out), "--duckdb-path", str(database), *args],
                              catch_exceptions=False)


def section_rows(html: str) -> dict[str, int]:
    return {name: int(rows) for name, rows in re.findall(r'<section id="([a-z-]+)" data-rows="(\d+)"', html)}


def section_html(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}".*?</section>', html, flags=re.DOTALL)
    assert match, name
    return match.group(0)


def visible_text(page: str) -> str:
    """What a reader sees: the body without tags, attributes, style or titles (tooltips)."""
    body = re.sub(r"<style>.*?</style>|<title>.*?</title>", " ", page, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


# ----------------------------------------------------------------------------- Chromium
def chromium(tmp_path: Path, page: Path, *extra: str) -> tuple[str, list[str]]:
    """Run headless Chromium on a file; the dumped DOM (or '') and every URL in its network log."""
    netlog = tmp_path / f"{page.stem}-netlog.json"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={netlog}", "--net-log-capture-mode=Default", *extra, page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    urls = re.findall(r'"url":"([^"]+)"', netlog.read_text(errors="replace")) if netlog.exists() else []
    return done.stdout, urls


def page_requests(urls: list[str]) -> set[str]:
    return {url for url in urls if url.startswith(("http:", "https:", "ws:", "wss:", "ftp:"))
            and not BROWSER_SERVICE_HOSTS.match(url)}


def layout_problems(tmp_path: Path, html: str, width: int, printed: bool, name: str) -> dict[str, Any]:
    """Lay `html` out at `width` CSS pixels (with the print styles when `printed`) and measure it.

    The copy drops the Content-Security-Policy (it forbids the measuring script). For paper, the
    print rules are applied on screen at the page's content width: Chromium lays a printed page out
    at that width, and screen-only rules are switched off.
    """
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    if printed:
        page = page.replace("@media print {", "@media all {").replace("@media screen and", "@media not all and")
    page = page.replace("</body>", f"<script>{LAYOUT_CHECK}</script></body>")
    path = tmp_path / f"{name}.html"
    path.write_text(page, encoding="utf-8")
    dom, _ = chromium(tmp_path, path, "--dump-dom", f"--window-size={width},2000")
    found = re.findall(r'<pre id="layout-check">([^<]*)</pre>', dom)
    assert len(found) == 1, dom[-2000:]
    return json.loads(found[0].replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


# ----------------------------------------------------------------------------- PDF
def pdf_info(pdf: Path) -> dict[str, str]:
    done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in done.stdout.splitlines())}


def pdf_pages_text(pdf: Path) -> list[str]:
    """The text of each page, in order."""
    done = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    pages = done.stdout.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdf_words(pdf: Path) -> list[tuple[int, float, float, float, str]]:
    """(page number, page width, word's xMin, word's xMax, word) for every word poppler finds."""
    done = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True)
    words = []
    for number, (width, body) in enumerate(re.findall(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', done.stdout,
                                                        flags=re.DOTALL), start=1):
        for x_min, x_max, word in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">(.*?)</word>',
                                             body):
            words.append((number, float(width), float(x_min), float(x_max), word))
    return words


def pdf_images(pdf: Path) -> list[str]:
    """pdfimages' list of the raster images in the PDF (header lines left out)."""
    done = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines()[2:] if line.strip()]


def pdf_outline(pdf: Path) -> list[tuple[int, str]]:
    """The PDF's bookmarks as (page, title), in order."""
    done = subprocess.run(["pdftohtml", "-xml", "-stdout", "-i", "-q", str(pdf)], capture_output=True, text=True,
                          check=True)
    return [(int(page), html.unescape(title)) for page, title in re.findall(r'<item page="(\d+)">(.*?)</item>', done.stdout)]


def render_pages(pdf: Path, folder: Path, resolution: int = 40) -> list[Path]:
    """Each page as a PNG (pdftoppm), in order."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(resolution), "-png", str(pdf), str(folder / "page")], check=True,
                   capture_output=True)
    return sorted(folder.glob("page-*.png"))


def row_pages(pages: list[str], marker: str) -> list[int]:
    """The page numbers on which each occurrence of `marker` is found, in order."""
    return [number for number, text in enumerate(pages, start=1) for _ in range(text.count(marker))]
