"""`zendesk-audit report`: one self-contained HTML file, every section with data, no network request.

The Chromium test drives Debian's `chromium` with plain subprocess (no playwright, no selenium):
`--dump-dom` shows what the browser built from the file, `--screenshot` that it painted, and
`--log-net-log` every request the browser made. Chromium's own background services (updates, time,
accounts) still show up there, so requests to Google's service hosts are set aside; a positive
control page with one external image proves that a page's request does appear in the log.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import duckdb
import pytest
from click.testing import CliRunner

from conftest import load_sandbox
from zendesk_audit.evidence_cli import report_command
from zendesk_audit.models import build_models
from zendesk_audit.pipeline import create_pipeline
from zendesk_audit.report import SECTIONS
from zendesk_audit.sandbox import Sandbox
from zendesk_audit.settings import SQL_DIR

CHROMIUM = Path("/usr/bin/chromium")
# Chromium's own services (component updater, network time, sign-in): not requests of the page.
BROWSER_SERVICE_HOSTS = re.compile(r"^https?://([a-z0-9.-]+\.)?(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[:/]")
EXTERNAL_REFERENCE = re.compile(r"""\b(?:src|href|action|poster|data|xlink:href)\s*=|url\(|@import|<script|<link|<img|<iframe""",
                                re.IGNORECASE)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """3,000 sandbox records, models built with one incident placed where there are changes."""
    folder = tmp_path_factory.mktemp("report")
    path = folder / "zendesk.duckdb"
    with Sandbox(records=3_000, seed=11) as sandbox:
        load_sandbox(sandbox, path)
    with duckdb.connect(str(path), read_only=True) as connection:
        busiest = connection.execute(
            "select max(created_at) from zendesk_audit.audit_logs where actor_id <> -1 and created_at < '2026-09-01'"
        ).fetchone()[0]
    seeds = folder / "seeds"
    shutil.copytree(SQL_DIR / "seeds", seeds)
    started = busiest.astimezone().strftime("%Y-%m-%dT%H:%M:%SZ") if busiest.tzinfo else busiest.isoformat()
    (seeds / "incidents.csv").write_text(
        f"incident_id,title,started_at,lookback_hours\nINC-7,Tickets routed to the wrong group,{started},72\n"
    )
    build_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)), seeds_dir=seeds)
    yield path


def report(loaded: Path, out: Path, *args: str) -> Any:
    group = click.Group("zendesk-audit")
    group.add_command(report_command)
    return CliRunner().invoke(group, ["report", "--out", str(out), "--duckdb-path", str(loaded), *args],
                              catch_exceptions=False)


def section_rows(html: str) -> dict[str, int]:
    return {name: int(rows) for name, rows in re.findall(r'<section id="([a-z-]+)" data-rows="(\d+)"', html)}


def section_html(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}".*?</section>', html, flags=re.DOTALL)
    assert match, name
    return match.group(0)


def test_every_section_has_data_and_nothing_external(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = report(loaded, out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("report: 3,000 records") and "empty:" not in result.output
    html = out.read_text()
    rows = section_rows(html)
    assert list(rows) == list(SECTIONS)
    assert all(count > 0 for count in rows.values()), rows
    for name in ("changes-per-day", "heatmap", "top-actors", "off-hours", "sensitive", "rule-changes"):
        assert section_html(html, name).count("<rect") >= 2, name
    for name in ("off-hours", "sensitive", "rule-changes", "role-history", "incidents"):
        assert section_html(html, name).count("<tr>") > 1, name
    assert "INC-7: Tickets routed to the wrong group" in html
    # Self-contained: a CSP that forbids every fetch, and no reference a browser could follow.
    assert "default-src 'none'" in html
    assert not EXTERNAL_REFERENCE.search(html), EXTERNAL_REFERENCE.search(html)
    # URLs may appear as escaped text (the sandbox has a macro named =HYPERLINK("http://x")), never in a tag.
    assert not re.search(r"<[^>]*(?:https?|ftp|wss?):", html)
    # Printable: print CSS that keeps sections and table rows whole.
    assert "@media print" in html and "break-inside: avoid" in html


def test_period_and_subdomain(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "q2.html"
    assert report(loaded, out, "--from", "2026-04-01", "--to", "2026-07-01").exit_code == 0
    with duckdb.connect(str(loaded), read_only=True) as connection:
        expected = connection.execute(
            "select count(*) from zendesk_audit.audit_logs where created_at >= '2026-04-01 00:00:00+00' "
            "and created_at < '2026-07-01 00:00:00+00'"
        ).fetchone()[0]
    html = out.read_text()
    assert section_rows(html)["headline"] == expected > 0
    assert "2026-04-01T00:00:00Z to 2026-07-01T00:00:00Z" in html
    assert 80 <= section_rows(html)["changes-per-day"] <= 91

    other = tmp_path / "other.html"
    result = report(loaded, other, "--subdomain", "not-loaded")
    assert result.exit_code == 0 and "empty: headline" in result.output
    assert other.read_text().count("Nothing in this period.") == len(SECTIONS)

    bad = report(loaded, tmp_path / "x.html", "--from", "2026-07-01", "--to", "2026-04-01")
    assert bad.exit_code == 2 and "is not before --to" in bad.output


def chromium(tmp_path: Path, page: Path, *extra: str) -> tuple[str, list[str]]:
    """Run headless Chromium on a file; the dumped DOM (or '') and every URL in its network log."""
    netlog = tmp_path / f"{page.stem}-netlog.json"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", '--host-resolver-rules=MAP * ~NOTFOUND',
        f"--log-net-log={netlog}", "--net-log-capture-mode=Default", *extra, page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    urls = re.findall(r'"url":"([^"]+)"', netlog.read_text(errors="replace")) if netlog.exists() else []
    return done.stdout, urls


def page_requests(urls: list[str]) -> set[str]:
    return {url for url in urls if url.startswith(("http:", "https:", "ws:", "wss:", "ftp:"))
            and not BROWSER_SERVICE_HOSTS.match(url)}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium")
def test_renders_in_headless_chromium_without_network(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert report(loaded, out).exit_code == 0

    # Positive control: a page that does fetch something shows up in the network log.
    probe = tmp_path / "probe.html"
    probe.write_text('<!doctype html><img src="http://report-probe.invalid/pixel.png">')
    _, probe_urls = chromium(tmp_path, probe, "--dump-dom")
    assert any("report-probe.invalid" in url for url in probe_urls), probe_urls

    dom, urls = chromium(tmp_path, out, "--dump-dom")
    assert page_requests(urls) == set()
    rows = section_rows(dom)
    assert list(rows) == list(SECTIONS) and all(count > 0 for count in rows.values()), rows
    for name in ("changes-per-day", "heatmap", "top-actors", "off-hours", "sensitive", "rule-changes"):
        assert "<svg" in section_html(dom, name) and "<rect" in section_html(dom, name), name

    screenshot = tmp_path / "report.png"
    _, urls = chromium(tmp_path, out, f"--screenshot={screenshot}", "--window-size=1100,2400", "--hide-scrollbars")
    assert page_requests(urls) == set()
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 50_000  # a blank page is a few KB


def test_bidi_zero_width_and_control_characters_in_names_and_labels_are_shown(tmp_path: Path) -> None:
    """`rule: <RLO>txt.exe` must not read as `rule: exe.txt`: every such character is marked in the page."""
    path = tmp_path / "zendesk.duckdb"
    when = datetime.now(timezone.utc) - timedelta(hours=1)
    with Sandbox(records=300, seed=5) as sandbox:
        sandbox.append(1, created_at=when, id=6_199_000_000_400, action="update", source_type="account_setting",
                       source_label="Two-factor authentication", change_description="Disabled",
                       actor_name="Mallory \u202etxt.exe\x1b[2J")
        sandbox.append(1, created_at=when, id=6_199_000_000_401, action="update", source_type="rule",
                       source_label="Escalate\u200b VIP \u2066\u202egnp.exe\u2069", actor_name="Mallory \u202etxt.exe\x1b[2J",
                       change_description="Title changed from Old to \ufeffNew\u200d")
        load_sandbox(sandbox, path)
    build_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))
    out = tmp_path / "report.html"
    assert report(path, out).exit_code == 0
    html = out.read_text(encoding="utf-8")
    hidden = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
    assert not hidden.search(html), repr(hidden.search(html))
    sensitive = section_html(html, "sensitive")
    assert 'Mallory <mark class="hidden-char" title="invisible character U+202E in the data">&lt;U+202E&gt;</mark>' \
           "txt.exe\\x1b[2J" in sensitive
    rules = section_html(html, "rule-changes")
    for code in ("U+200B", "U+2066", "U+202E", "U+2069", "U+FEFF", "U+200D"):
        assert f"&lt;{code}&gt;</mark>" in rules, code
