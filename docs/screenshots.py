"""The report screenshots of docs/evidence.md, from the current code: `make screenshots`.

Loads the sandbox as `make demo` does (20,000 records, into a temporary DuckDB file), writes the
third quarter of 2026 as HTML and as PDF with `zendesk-audit report`, then takes:

- docs/report-html.png: the top of the HTML report in headless Chromium at 1,400 px;
- docs/report-pdf.png: the PDF's cover, "What needs attention" and "Activity" pages side by side,
  rendered by poppler's pdftoppm.

Needs Chromium and poppler-utils (`make browser` installs both on Debian).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from zendesk_audit.audit.period import Period
from zendesk_audit.audit.report import write_report
from zendesk_audit.audit.report_pdf import find_browser
from zendesk_audit.cli.demo import run_demo
from zendesk_audit.load.pipeline import create_pipeline

DOCS = Path(__file__).resolve().parent
PERIOD = ("2026-07-01", "2026-10-01")
PAGE_HEADINGS = ("What needs attention", "Activity")


def chromium(browser: str, page: Path, png: Path, width: int, height: int) -> None:
    command = [browser, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={page.parent / 'profile'}", f"--window-size={width},{height}",
               f"--screenshot={png}", page.as_uri()]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def pdf_pages(pdf: Path) -> list[str]:
    done = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True)
    return done.stdout.split("\f")


def main() -> None:
    browser = find_browser()
    if not shutil.which("pdftoppm"):
        sys.exit("screenshots: needs pdftoppm (apt-get install poppler-utils)")
    with tempfile.TemporaryDirectory(prefix="zendesk-audit-screenshots-") as folder:
        work = Path(folder)
        database = work / "demo.duckdb"
        for line in run_demo(20_000, str(database)):
            print(line)
        pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(database))
        period = Period.parse(*PERIOD)
        html, pdf = work / "report.html", work / "report.pdf"
        print(write_report(pipeline, html, period).summary_line())
        print(write_report(pipeline, pdf, period, browser=browser).summary_line())

        chromium(browser, html, DOCS / "report-html.png", 1400, 1250)

        texts = pdf_pages(pdf)
        numbers = [1] + [next(index for index, text in enumerate(texts, start=1) if index > 1 and heading in text)
                         for heading in PAGE_HEADINGS]
        for number in numbers:
            subprocess.run(["pdftoppm", "-r", "45", "-png", "-singlefile", "-f", str(number), "-l", str(number),
                            str(pdf), str(work / f"page-{number}")], check=True)
        pages = "".join(f'<img src="page-{number}.png">' for number in numbers)
        sheet = work / "pages.html"
        sheet.write_text(
            "<!doctype html><style>body{margin:0;padding:20px;background:#d1d5db;display:flex;gap:22px}"
            "img{display:block;box-shadow:0 2px 10px rgba(0,0,0,.35);background:#fff}</style>" + pages
        )
        chromium(browser, sheet, DOCS / "report-pdf.png", 20 * 2 + 22 * (len(numbers) - 1) + 372 * len(numbers), 566)
    for name in ("report-html.png", "report-pdf.png"):
        print(f"docs/{name}: {(DOCS / name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
