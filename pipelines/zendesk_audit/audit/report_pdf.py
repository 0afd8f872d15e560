"""The PDF report: the HTML report printed by a headless Chromium, Chrome or Edge already installed.

Why a browser and not a Python library: the HTML is what an auditor also opens on screen, and
Chromium prints it exactly as shown, with the charts as vector graphics, the page size and the
"Page n of N" footers from the page's own CSS (`@page` margin boxes, Chromium 131 and later),
rows kept whole and table headers repeated. A pure-Python HTML-to-PDF library would be a second
renderer to keep in step, and the well-kept ones need native libraries (Cairo, Pango) that a
`pip install` does not bring. Every desktop has a Chromium-based browser; servers get one from
the package manager (`apt-get install chromium`).

The browser runs headless with no network (every host name resolves to nothing, on top of the
page's own Content-Security-Policy), a throw-away profile, and a time limit. It reads the HTML
from a temporary folder next to the output (a browser installed as a snap cannot read another
program's /tmp), and the PDF replaces `out` only once it is complete.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from zendesk_audit.errors import ConfigurationError, ReportPrintError

BROWSER_ENV = "ZENDESK_AUDIT_BROWSER"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "microsoft-edge", "microsoft-edge-stable", "msedge")
APPLICATION_PATHS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
)
MIN_VERSION = 131  # the first to print @page margin boxes: the "Page n of N" footers
PRINT_TIMEOUT_SECONDS = 180
VERSION_TIMEOUT_SECONDS = 20

__all__ = ["BROWSER_ENV", "find_browser", "print_pdf"]


def _missing(detail: str) -> ConfigurationError:
    return ConfigurationError(
        f"{detail}: a PDF report is printed by Chromium, Chrome or Edge {MIN_VERSION} or later; install one "
        f"(Debian/Ubuntu: apt-get install chromium) or point --browser (or {BROWSER_ENV}) at it, or write HTML "
        "with --out report.html"
    )


def browser_version(path: str) -> int | None:
    """The major version `--version` prints, or None when it prints none (Windows builds do not)."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_SECONDS,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\b(\d{2,4})\.\d+\.\d+", done.stdout or "")
    return int(found.group(1)) if found else None


def find_browser(given: str | None = None) -> str:
    """The browser to print with: `given`, else `ZENDESK_AUDIT_BROWSER`, else the usual names and places.

    Raises:
        ConfigurationError: none found, or one older than `MIN_VERSION` (one line, what to install).
    """
    named = given or os.environ.get(BROWSER_ENV) or ""
    if named:
        path = shutil.which(named) or (named if os.path.isfile(named) and os.access(named, os.X_OK) else None)
        if not path:
            raise _missing(f"no browser at {named!r}")
    else:
        path = next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)
        path = path or next((candidate for candidate in APPLICATION_PATHS if os.path.isfile(candidate)), None)
        if not path:
            raise _missing("no Chromium, Chrome or Edge found on the PATH")
    version = browser_version(path)
    if version is not None and version < MIN_VERSION:
        raise _missing(f"{path} is version {version}, too old to number the pages")
    return path


def _last_error(stderr: str) -> str:
    """The line of the browser's chatter that says what went wrong (its D-Bus noise set aside)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and "dbus" not in line.lower()]
    errors = [line for line in lines if "ERROR" in line or "FATAL" in line or "rror" in line]
    return ((errors or lines or ["no message"])[-1])[:240]


def _command(browser: str, profile: Path, page: Path, pdf: Path) -> list[str]:
    command = [
        browser, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--disable-default-apps", f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--no-pdf-header-footer", "--print-to-pdf-no-header", "--generate-pdf-document-outline",
        f"--print-to-pdf={pdf}", page.resolve().as_uri(),
    ]
    if getattr(os, "geteuid", lambda: 1)() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to start as root with its sandbox on
    return command


def print_pdf(html: str, out: Path, browser: str, timeout: float = PRINT_TIMEOUT_SECONDS) -> None:
    """Print `html` to the PDF `out` with `browser`; `out` is replaced only by a complete PDF.

    Raises:
        ReportPrintError: the browser failed, timed out, or wrote no PDF.
    """
    out = Path(out)
    folder = Path(tempfile.mkdtemp(prefix=".zendesk-audit-report-", dir=out.resolve().parent))
    try:
        page, pdf = folder / "report.html", folder / "report.pdf"
        page.write_text(html, encoding="utf-8")
        process = subprocess.Popen(_command(browser, folder / "profile", page, pdf), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=os.name != "nt")
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise ReportPrintError(f"{browser} did not finish printing the PDF in {timeout:.0f} s; nothing was written") \
                from None
        if process.returncode != 0 or not pdf.exists() or not pdf.read_bytes()[:5] == b"%PDF-":
            raise ReportPrintError(
                f"{browser} could not print the PDF (exit {process.returncode}): {_last_error(stderr)}; nothing was written"
            )
        os.replace(pdf, out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stop(process: subprocess.Popen[str]) -> None:
    """End the browser and the helpers it started (renderer, GPU, zygote)."""
    try:
        if os.name != "nt":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    process.communicate()
