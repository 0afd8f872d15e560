"""The report as laid out by a browser and printed to PDF: nothing cut, nothing split, pages numbered.

The layout is measured in Chromium itself (tests/report_layout_check.js): at 1,400 px on screen,
and at the content width of an A4 and a Letter page with the print styles, no block overflows, no
word is broken across lines and no chart label leaves its chart; a control page with each defect
proves the measuring finds them. The PDF is printed through the command and read back with
poppler: a cover, bookmarks, "Page n of N" on every other page, the sections in review order, charts as vector
graphics (no raster image at all), every word inside the page's content area, and every table row
on one page (a control print without the rule that keeps rows whole splits some).
"""
from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_support import (
    PAGE_CONTENT_WIDTH,
    SIDE_MARGIN_POINTS,
    STRESS_ROWS,
    build_loaded,
    build_stress,
    layout_problems,
    needs_chromium,
    needs_poppler,
    pdf_images,
    pdf_info,
    pdf_outline,
    pdf_pages_text,
    pdf_words,
    render_pages,
    row_pages,
    run_report,
)

from zendesk_audit.audit.report_pdf import BROWSER_ENV, find_browser, print_pdf
from zendesk_audit.errors import ReportPrintError

Q3 = ("--from", "2026-07-01", "--to", "2026-10-01")
HEADINGS = (
    "At a glance", "Counts", "People new to changing things",
    "What needs attention", "Critical and high-severity changes", "Role changes to an admin role",
    "People outside the approved actors", "Data exports", "API tokens created",
    "Activity", "Records per day", "When people work", "Most active people",
    "Details", "Off-hours records", "Sensitive changes", "Business-rule changes", "Role history",
    "Incidents and the changes before them",
    "Appendix", "How this report was made", "Sensitivity rules",
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield build_loaded(tmp_path_factory.mktemp("report-pdf"))


@pytest.fixture(scope="module")
def stress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield build_stress(tmp_path_factory.mktemp("report-stress"))


def fake_browser(folder: Path, body: str, version: str = "Chromium 156.0.8078.114") -> Path:
    """A script that answers --version like Chromium and otherwise runs `body` (no browser needed)."""
    script = folder / "fake-chromium"
    script.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "{version}"; exit 0; fi\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


# ----------------------------------------------------------------------------- layout in the browser
@needs_chromium
def test_the_layout_check_finds_broken_words_overflow_and_clipped_labels(tmp_path: Path) -> None:
    control = (
        '<!doctype html><html><head></head><body><table style="width:120px"><tr>'
        '<td style="overflow-wrap:anywhere">CRITICALSEVERITYLONGWORD</td></tr></table>'
        '<div style="width:50px;white-space:nowrap">overflowing text that does not fit</div>'
        '<svg viewBox="0 0 100 20" width="100" height="20"><text x="80" y="15">clipped label</text></svg></body></html>'
    )
    found = layout_problems(tmp_path, control, 800, printed=False, name="control")
    assert {problem["kind"] for problem in found["problems"]} == {"word-broken", "overflow", "svg-label-clipped"}


@needs_chromium
@pytest.mark.parametrize(("which", "period"), [
    ("loaded", Q3),
    ("loaded", ("--from", "2026-10-01", "--to", "2027-01-02")),  # a month starts on the last day: its label at the edge
    ("stress", ()),  # long names, labels and descriptions without spaces, IPv6, tall rows
], ids=["q3", "label-at-the-edge", "long-values"])
def test_no_overflow_broken_word_or_clipped_label_at_1400_px_on_a4_and_on_letter(
    which: str, period: tuple[str, ...], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database = request.getfixturevalue(which)
    out = tmp_path / "report.html"
    assert run_report(database, out, *period).exit_code == 0
    html = out.read_text(encoding="utf-8")
    for width, printed, name in ((1400, False, "screen"), (PAGE_CONTENT_WIDTH["a4"], True, "a4"),
                                 (PAGE_CONTENT_WIDTH["letter"], True, "letter")):
        found = layout_problems(tmp_path, html, width, printed, f"{which}-{name}")
        assert found["width"] == width, found
        assert found["words"] > 2_000 and found["labels"] > 100, found
        assert found["problems"] == [], (name, found["problems"][:10])


# ----------------------------------------------------------------------------- the PDF
@needs_chromium
@needs_poppler
def test_the_pdf_has_a_cover_numbered_pages_sections_in_order_and_vector_charts(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "q3.pdf"
    result = run_report(loaded, out, *Q3)
    assert result.exit_code == 0, result.output
    assert "PDF written to" in result.output
    assert [path.name for path in tmp_path.iterdir()] == ["q3.pdf"]  # the temporary folder is gone
    info = pdf_info(out)
    pages = int(info["Pages"])
    assert 6 <= pages <= 20, info
    assert info["Page size"].startswith("594.96 x 841.92 pts (A4)")
    images = render_pages(out, tmp_path / "pages")
    assert len(images) == pages
    assert all(image.stat().st_size > 3_000 for image in images)  # a blank page renders to about 1 KB

    texts = pdf_pages_text(out)
    assert len(texts) == pages
    cover = " ".join(texts[0].split())
    for expected in ("Zendesk audit review", "acme · 1 July 2026 to 30 September 2026", "Data freshness", "loaded up to",
                     "last load", "Generated", "Europe/Paris, the time zone in the account's Zendesk settings"):
        assert expected in cover, expected
    assert "Page 1 of" not in texts[0]
    for number, text in enumerate(texts[1:], start=2):
        assert f"Page {number} of {pages}" in text, number
        assert "Zendesk audit review · acme · 1 July 2026 to 30 September 2026" in text, number
    body = " ".join(" ".join(texts[1:]).split())
    position = 0
    for heading in HEADINGS:
        found = body.find(heading, position)
        assert found >= 0, f"{heading!r} missing or out of order"
        position = found + len(heading)
    # Bookmarks: the headings' own text (no number or count glued on), on the pages they start.
    outline = pdf_outline(out)
    titles = [title for _, title in outline]
    assert titles[:3] == ["Zendesk audit review", "At a glance", "Counts"]
    assert [title for title in titles if title in HEADINGS] == [heading for heading in HEADINGS if heading in titles]
    assert {"What needs attention", "Critical and high-severity changes", "Activity", "Details", "Appendix"} <= set(titles)
    assert all(texts[page - 1].find(title) >= 0 for page, title in outline[1:]), outline
    # Charts are SVG printed as vector paths: the PDF holds no raster image at all.
    assert pdf_images(out) == []
    # Every word inside the page's content area: nothing runs into the margins or off the paper.
    words = pdf_words(out)
    assert len(words) > 2_000
    outside = [(page, word, x_min, x_max) for page, width, x_min, x_max, word in words
               if x_min < SIDE_MARGIN_POINTS - 1 or x_max > width - SIDE_MARGIN_POINTS + 1]
    assert outside == []


@needs_chromium
@needs_poppler
def test_letter_paper_and_format_flag(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "review"
    result = run_report(loaded, out, *Q3, "--format", "pdf", "--paper", "letter")
    assert result.exit_code == 0, result.output
    info = pdf_info(out)
    assert info["Page size"].startswith("612 x 792 pts (letter)")
    texts = pdf_pages_text(out)
    assert f"Page 2 of {len(texts)}" in texts[1]


@needs_chromium
@needs_poppler
def test_table_rows_are_never_split_across_pages(stress: Path, tmp_path: Path) -> None:
    out = tmp_path / "stress.pdf"
    assert run_report(stress, out).exit_code == 0
    texts = pdf_pages_text(out)
    assert int(pdf_info(out)["Pages"]) >= 4
    for number in range(STRESS_ROWS):
        starts, ends = row_pages(texts, f"ROWSTART-{number:02d}"), row_pages(texts, f"ROWEND-{number:02d}")
        assert len(starts) == 2, (number, starts)  # in "critical and high" and in "sensitive changes"
        assert starts == ends, (number, starts, ends)

    # Control: the same report printed without the rule that keeps rows whole splits rows.
    html = tmp_path / "stress.html"
    assert run_report(stress, html, "--paper", "a4").exit_code == 0
    page = html.read_text(encoding="utf-8")
    assert "  tr, td, th { break-inside: avoid; }" in page
    control = tmp_path / "control.pdf"
    print_pdf(page.replace("  tr, td, th { break-inside: avoid; }", ""), control, find_browser())
    control_texts = pdf_pages_text(control)
    split = [number for number in range(STRESS_ROWS)
             if row_pages(control_texts, f"ROWSTART-{number:02d}") != row_pages(control_texts, f"ROWEND-{number:02d}")]
    assert split, "the control print split no row: the test would not notice a split"


# ----------------------------------------------------------------------------- no browser, a failing browser
def test_without_a_browser_the_pdf_fails_in_one_line_and_writes_nothing(
    loaded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(BROWSER_ENV, raising=False)
    out = tmp_path / "q3.pdf"
    result = run_report(loaded, out, *Q3)
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: no Chromium, Chrome or Edge found on the PATH: a PDF report is printed by Chromium, Chrome or Edge 131 "
        f"or later; install one (Debian/Ubuntu: apt-get install chromium) or point --browser (or {BROWSER_ENV}) at it, "
        "or write HTML with --out report.html"
    ]
    assert not out.exists()

    monkeypatch.setenv(BROWSER_ENV, str(tmp_path / "nowhere" / "chrome"))
    result = run_report(loaded, out, *Q3)
    assert result.exit_code == 2 and result.output.startswith(f"error: no browser at '{tmp_path / 'nowhere' / 'chrome'}'")
    assert not out.exists()
    # HTML needs no browser.
    assert run_report(loaded, tmp_path / "q3.html", *Q3).exit_code == 0


def test_a_browser_too_old_to_number_pages_is_refused(loaded: Path, tmp_path: Path) -> None:
    old = fake_browser(tmp_path, "exit 0", version="Chromium 120.0.6099.224")
    out = tmp_path / "q3.pdf"
    result = run_report(loaded, out, *Q3, "--browser", str(old))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {old} is version 120, too old to number the pages: a PDF report is printed")
    assert not out.exists()


def test_a_browser_that_fails_is_one_line_exit_1_and_the_old_file_stays(loaded: Path, tmp_path: Path) -> None:
    failing = fake_browser(tmp_path, 'echo "[1:2:ERROR:dbus/bus.cc] Failed to connect to the bus" >&2\n'
                                     'echo "[3:4:FATAL:printing.cc] Printing failed: no space left" >&2\nexit 3')
    out = tmp_path / "q3.pdf"
    out.write_bytes(b"%PDF-1.4 the previous report")
    result = run_report(loaded, out, *Q3, "--browser", str(failing))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: {failing} could not print the PDF (exit 3): [3:4:FATAL:printing.cc] Printing failed: no space left; "
        "nothing was written"
    ]
    assert out.read_bytes() == b"%PDF-1.4 the previous report"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fake-chromium", "q3.pdf"]


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from Linux's /proc")
def test_a_browser_that_hangs_is_stopped_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    hanging = fake_browser(tmp_path, f"sleep 300 &\necho $! > {marker}\nwait")
    with pytest.raises(ReportPrintError, match=r"did not finish printing the PDF in 1 s; nothing was written"):
        print_pdf("<!doctype html><p>x</p>", tmp_path / "out.pdf", str(hanging), timeout=1)
    child = int(marker.read_text())
    deadline = time.monotonic() + 10
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(child)  # the browser's own child was stopped too, not left running
    assert not (tmp_path / "out.pdf").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".zendesk-audit-report-")]
