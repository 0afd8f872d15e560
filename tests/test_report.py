"""`zendesk-audit report`: the period review, in review order, in words, checked against the records.

Each figure the review shows is recomputed here from the loaded records (not from the models), so a
wrong join, period filter or comparison fails a test. The rendering in Chromium and the PDF are in
tests/test_report_pdf.py.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from report_support import (
    build_loaded,
    chromium,
    needs_chromium,
    page_requests,
    run_report,
    section_html,
    section_rows,
    visible_text,
)
from test_sql_models import parse_named_changes, role_line

from conftest import configure_accounts, load_sandbox
from zendesk_audit.audit.period import Period
from zendesk_audit.audit.report import PARTS, SECTIONS, period_words, report_format
from zendesk_audit.audit.report_charts import bar_chart
from zendesk_audit.audit.report_data import Window, hour_zones
from zendesk_audit.audit.report_html import breakable, css_string, shorten
from zendesk_audit.audit.report_words import business_hours_words, long_date, moment
from zendesk_audit.cli.commands import cli
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models
from zendesk_sandbox import Sandbox

# Anything a browser could follow out of the page; in-page links (href="#...") stay in the page.
EXTERNAL_REFERENCE = re.compile(
    r"""\b(?:src|action|poster|data|xlink:href)\s*=|\bhref\s*=\s*"(?!#)|url\(|@import|<script|<link|<img|<iframe""",
    re.IGNORECASE,
)
Q3 = ("--from", "2026-07-01", "--to", "2026-10-01")
Q3_START, Q3_END, Q2_START = "2026-07-01 00:00:00+00", "2026-10-01 00:00:00+00", "2026-04-01 00:00:00+00"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield build_loaded(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def q3(loaded: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("q3") / "q3.html"
    result = run_report(loaded, out, *Q3)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("report: 758 records") and "empty:" not in result.output, result.output
    assert "not checked" not in result.output and "HTML written to" in result.output
    return out.read_text(encoding="utf-8")


def raw(loaded: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(loaded), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def figure(html: str, key: str) -> tuple[int, int | None]:
    """(this period, previous period) of a summary card."""
    card = re.search(rf'<div class="figure[^"]*" data-figure="{key}"><b>([\d,]+)</b>(.*?)</div>', html, flags=re.DOTALL)
    assert card, key
    before = re.search(r"the previous period \(([\d,]+)\)", card.group(2))
    return int(card.group(1).replace(",", "")), int(before.group(1).replace(",", "")) if before else None


def table_rows(section: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", section, flags=re.DOTALL)
    assert body, section[:300]
    return [[visible_text(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), flags=re.DOTALL)]


# ----------------------------------------------------------------------------- order and content
def test_the_review_comes_in_order_every_section_has_data_and_nothing_is_external(q3: str) -> None:
    rows = section_rows(q3)
    assert list(rows) == list(SECTIONS)
    assert all(count > 0 for count in rows.values()), rows
    # Cover, then the parts in review order (attention before activity before details), then the appendix.
    positions = [q3.index('id="cover"')] + [q3.index(f'id="{part_id}"') for part_id, _, _ in PARTS]
    positions.append(q3.index('id="part-appendix"'))
    assert positions == sorted(positions)
    assert [part_id for part_id, _, _ in PARTS] == ["part-summary", "part-attention", "part-activity", "part-details"]
    for part_id, _, sections in PARTS:
        part = q3[q3.index(f'id="{part_id}"'):]
        assert all(f'<section id="{name}"' in part for name in sections)
    for name in ("changes-per-day", "heatmap", "top-actors", "sensitive", "rule-changes"):
        assert section_html(q3, name).count("<rect") >= 2, name
    for name in ("new-actors", "critical-high", "admin-roles", "unapproved-actors", "data-exports", "api-tokens",
                 "off-hours", "sensitive", "rule-changes", "role-history", "incidents"):
        assert section_html(q3, name).count("<tr") > 1, name
    assert "INC-7: Tickets routed to the wrong group" in q3
    # Each section says what it shows in a sentence.
    for name in SECTIONS:
        intro = re.search(r'<p class="intro">(.*?)</p>', section_html(q3, name), flags=re.DOTALL)
        assert intro and len(visible_text(intro.group(1)).split()) >= 8, name
    # Self-contained: a CSP that forbids every fetch, and no reference a browser could follow.
    assert "default-src 'none'" in q3
    assert not EXTERNAL_REFERENCE.search(q3), EXTERNAL_REFERENCE.search(q3)
    assert not re.search(r"<[^>]*(?:https?|ftp|wss?):", q3)
    # Printable: print CSS that keeps table rows whole and repeats table headers, numbered pages.
    assert "@media print" in q3 and "tr, td, th { break-inside: avoid; }" in q3
    assert 'counter(page) " of " counter(pages)' in q3


def test_the_cover_names_account_period_zone_hours_and_freshness_in_words(q3: str, loaded: Path) -> None:
    cover = visible_text(q3[q3.index('id="cover"'):q3.index('id="part-summary"')])
    assert "acme · 1 July 2026 to 30 September 2026" in cover
    assert "92 days, from 00:00 UTC on the first day to 24:00 UTC on the last." in cover
    assert "Local times Europe/Paris, the time zone in the account's Zendesk settings" in cover
    # The account's own Zendesk schedule judged its records (its workweek records are in the log),
    # the seed business_hours those before the schedule's first known version.
    sources = raw(loaded, "select distinct business_hours_source, business_hours_schedule_name "
                          "from zendesk_audit_models.int_audit_logs_business_hours_classified "
                          f"where not is_system and created_at >= '{Q3_START}' and created_at < '{Q3_END}'")
    assert ("zendesk_schedules", "Central US Schedule") in sources
    assert "the account's own Zendesk schedule “Central US Schedule” (from its audit log: schedule_history)" in cover
    if ("seed", None) in sources:
        assert "the seed business_hours: Monday to Friday, 09:00 to 18:00; Saturday and Sunday off hours all day" in cover
    (latest,) = raw(loaded, "select max(created_at) from zendesk_audit.audit_logs")[0]
    (loaded_at,) = raw(loaded, "select loaded_at from zendesk_audit.accounts where subdomain = 'acme'")[0]
    # A full load leaves the cursor at the latest record: the next load continues from there.
    assert f"3,000 records in all, the latest of {moment(latest)}" in cover
    assert f"loaded up to {moment(latest)} (the next load continues from there)" in cover
    assert f"last load {moment(loaded_at)}" in cover
    assert re.search(r"Generated \d{1,2} \w+ 20\d\d, \d\d:\d\d UTC by zendesk-audit ", cover)


def test_codes_file_paths_and_placeholders_never_reach_the_reader(q3: str, loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    assert run_report(loaded, out).exit_code == 0
    for html in (q3, out.read_text(encoding="utf-8")):
        text = visible_text(html)
        for code in ("before_hours", "after_hours", "account_settings", "utc_fallback", "severity_rank", "README",
                     "sql/seeds", ".csv", "every account", "the first record to the last record", "_models."):
            assert code not in text, code
        assert "before opening" in text or "after closing" in text
    everything = visible_text(out.read_text(encoding="utf-8"))
    (first, last) = raw(loaded, "select min(created_at), max(created_at) from zendesk_audit.audit_logs")[0]
    assert f"from the first record loaded ({moment(first)}) to the last record loaded ({moment(last)})" in everything


def test_attention_lists_what_an_access_review_looks_for(q3: str, loaded: Path) -> None:
    window = f"created_at >= '{Q3_START}' and created_at < '{Q3_END}'"
    exports = raw(loaded, f"select count(*) from zendesk_audit.audit_logs where {window} and action = 'exported'")[0][0]
    tokens = raw(loaded, f"select count(*) from zendesk_audit.audit_logs where {window} and action = 'create' "
                         "and source_type in ('api_token', 'apitoken')")[0][0]
    admins = 0  # role lines that give an admin role in their product, read here in Python (test_sql_models' oracle)
    for (description,) in raw(loaded, f"select change_description from zendesk_audit.audit_logs where {window} "
                                      "and source_type = 'user'"):
        text = unescape(unescape(description or ""))
        for _, attribute, old, new, named in parse_named_changes(text, None):
            found = role_line(attribute, old, new) if named else None
            admins += bool(found and found[4])
    rows = section_rows(q3)
    assert (rows["data-exports"], rows["api-tokens"], rows["admin-roles"]) == (exports, tokens, admins)
    assert exports and tokens and admins
    severities = re.findall(r'class="badge sev-(\w+)"', section_html(q3, "critical-high"))
    assert severities and set(severities) <= {"critical", "high"} and severities == sorted(severities)  # critical first
    for row in table_rows(section_html(q3, "admin-roles")):
        found = role_line(f"{row[2]} role", row[3], row[4])  # (time, user, product, from, to, by)
        assert found and found[4], row
    # Outside the approved actors: the two least active people were left off the list.
    unapproved = table_rows(section_html(q3, "unapproved-actors"))
    approved = raw(loaded, "select count(distinct actor_id) from zendesk_audit.audit_logs where actor_id <> -1")[0][0] - 2
    expected = raw(loaded, f"""
        with ranked as (
            select actor_id, row_number() over (order by count(*) desc, actor_id) as position
            from zendesk_audit.audit_logs where actor_id <> -1 group by actor_id)
        select logs.actor_id, count(*) from zendesk_audit.audit_logs as logs join ranked using (actor_id)
        where position > {approved} and {window.replace('created_at', 'logs.created_at')} group by 1 order by 2 desc""")
    assert [(int(row[1]), int(row[2].replace(",", ""))) for row in unapproved] == expected
    assert f"not among the {approved} approved actors" in section_html(q3, "unapproved-actors")


def test_the_counts_compare_with_the_previous_period_and_name_new_people(q3: str, loaded: Path) -> None:
    def period(start: str, end: str) -> str:
        return f"created_at >= '{start}' and created_at < '{end}'"

    # Q3 is 92 days: the previous period of the same length starts on 31 March.
    previous_start = (datetime(2026, 7, 1, tzinfo=timezone.utc) - timedelta(days=92)).strftime("%Y-%m-%d %H:%M:%S+00")
    now, before = period(Q3_START, Q3_END), period(previous_start, Q3_START)
    changes = "actor_id <> -1 and action not in ('login', 'exported')"
    for key, sql in (
        ("records", "select count(*) from zendesk_audit.audit_logs where {p}"),
        ("people", f"select count(distinct actor_id) from zendesk_audit.audit_logs where {{p}} and {changes}"),
        ("exports", "select count(*) from zendesk_audit.audit_logs where {p} and action = 'exported'"),
        ("api_tokens", "select count(*) from zendesk_audit.audit_logs where {p} and action = 'create' "
                       "and source_type in ('api_token', 'apitoken')"),
    ):
        expected = (raw(loaded, sql.format(p=now))[0][0], raw(loaded, sql.format(p=before))[0][0])
        assert figure(q3, key) == expected, key
    assert "(31 March 2026 to 30 June 2026)" in section_html(q3, "headline")
    people_now = dict(raw(loaded, f"select actor_id, count(*) from zendesk_audit.audit_logs where {now} and {changes} "
                                  "group by 1"))
    people_before = {row[0] for row in raw(loaded, f"select distinct actor_id from zendesk_audit.audit_logs where {before} "
                                                   f"and {changes}")}
    new = {actor: count for actor, count in people_now.items() if actor not in people_before}
    listed = {int(row[1]): int(row[2]) for row in table_rows(section_html(q3, "new-actors"))}
    assert listed == new and new


def test_without_earlier_records_there_is_no_comparison_and_it_says_why(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "first.html"
    (first,) = raw(loaded, "select min(created_at) from zendesk_audit.audit_logs")[0]
    result = run_report(loaded, out, "--from", first.strftime("%Y-%m-%d"), "--to", "2026-01-01")
    assert result.exit_code == 0 and "not checked: new-actors" in result.output
    headline = visible_text(section_html(out.read_text(encoding="utf-8"), "headline"))
    assert "No record was loaded before this period, so there is no previous period to compare with." in headline
    assert "previous period (" not in headline


def test_a_period_that_ends_after_the_loaded_data_says_so_on_the_cover(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "q4.html"
    assert run_report(loaded, out, "--from", "2026-10-01", "--to", "2027-01-01").exit_code == 0
    html = out.read_text(encoding="utf-8")
    (latest,) = raw(loaded, "select max(created_at) from zendesk_audit.audit_logs")[0]
    assert (f'<p class="notice">The data was loaded up to {moment(latest)}, before the end of the period: records made '
            "after that are not in this report.</p>") in html
    complete = tmp_path / "q3.html"
    assert run_report(loaded, complete, *Q3).exit_code == 0
    assert 'class="notice"' not in complete.read_text(encoding="utf-8")


def test_every_day_of_the_period_is_drawn_and_a_gap_is_named(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "gap.html"
    assert run_report(loaded, out, "--from", "2025-09-01", "--to", "2025-12-01").exit_code == 0
    html = out.read_text(encoding="utf-8")
    days = {row[0]: row[1] for row in raw(loaded, "select cast(created_at at time zone 'UTC' as date), count(*) "
                                                  "from zendesk_audit.audit_logs group by 1")}
    period = [date(2025, 9, 1) + timedelta(days=offset) for offset in range(91)]
    empty = [day for day in period if day not in days]
    first = min(day for day in period if day in days)
    chart = section_html(html, "changes-per-day")
    assert f'data-days="91" data-empty-days="{len(empty)}"' in chart
    assert len(empty) >= 60 and chart.count('class="empty-day"') == len(empty)
    assert chart.count('class="day"') == 91 - len(empty)
    assert f"the longest run without one is {(first - period[0]).days} days, 1 September 2025 to " \
           f"{long_date(first - timedelta(days=1))}" in visible_text(chart)
    assert "<title>2025-09-01 (Mon): no records</title>" in chart
    for day in period:
        assert f"<title>{day.isoformat()} (" in chart, day


def test_off_hours_cells_are_marked_and_one_change_is_never_near_white(q3: str) -> None:
    heatmap = section_html(q3, "heatmap")
    cells = re.findall(r'<rect class="cell (\w+)" data-count="(\d+)"[^>]*fill="rgb\((\d+),(\d+),(\d+)\)"[^>]*>'
                       r"<title>(\w+) (\d\d):00", heatmap)
    assert len(cells) == 7 * 24
    zone = {(day, int(hour)): kind for kind, _, _, _, _, day, hour in cells}
    assert zone[("Mon", 10)] == zone[("Fri", 17)] == "business"
    assert zone[("Mon", 8)] == zone[("Mon", 18)] == zone[("Sat", 12)] == zone[("Sun", 3)] == "off"
    filled_off = [(int(count), int(red), int(green), int(blue)) for kind, count, red, green, blue, _, _ in cells
                  if kind == "off" and int(count)]
    assert filled_off
    for count, red, green, blue in filled_off:
        assert red > green > blue, (count, red, green, blue)  # orange to red, unlike business hours' blue
        assert 0.299 * red + 0.587 * green + 0.114 * blue < 205, (count, red, green, blue)  # clearly coloured
    for kind, count, red, green, blue, _, _ in cells:
        if kind == "business" and int(count):
            assert int(blue) > int(red), (count, red, green, blue)
    # The account's schedule (Central US: a lunch break 12:30 to 13:30) judged the period: the
    # heatmap shades its hours, and says so.
    assert "Business hours: the account's own Zendesk schedule “Central US Schedule”" in visible_text(heatmap)
    assert "off hours (weekends, before opening, after closing)" in heatmap  # the legend


def test_period_subdomain_and_bad_bounds(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "q2.html"
    assert run_report(loaded, out, "--from", "2026-04-01", "--to", "2026-07-01").exit_code == 0
    expected = raw(loaded, f"select count(*) from zendesk_audit.audit_logs where created_at >= '{Q2_START}' "
                           f"and created_at < '{Q3_START}'")[0][0]
    html = out.read_text(encoding="utf-8")
    assert section_rows(html)["headline"] == expected > 0
    assert "1 April 2026 to 30 June 2026" in html and "91 days" in html
    assert 'data-days="91"' in html

    other = tmp_path / "other.html"
    result = run_report(loaded, other, "--subdomain", "not-loaded")
    assert result.exit_code == 0 and "empty: headline" in result.output
    text = visible_text(other.read_text(encoding="utf-8"))
    assert "No record in this period." in text and "not-loaded" in text

    bad = run_report(loaded, tmp_path / "x.html", "--from", "2026-07-01", "--to", "2026-04-01")
    assert bad.exit_code == 2 and "is not before --to" in bad.output


def test_a_format_that_contradicts_the_file_name_is_refused_before_anything_is_read(loaded: Path, tmp_path: Path) -> None:
    for args, message in (
        (["--out", "r.html", "--format", "pdf"], "error: --format pdf and --out r.html disagree: name the file .pdf"),
        (["--out", "r.pdf", "--format", "html"], "error: --format html and --out r.pdf disagree: name the file .html"),
    ):
        out = tmp_path / args[1]
        result = run_report(tmp_path / "missing.duckdb", out, *args[2:])
        assert result.exit_code == 2 and result.output.strip() == message
        assert not out.exists()


@needs_chromium
def test_renders_in_headless_chromium_without_network(q3: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text(q3, encoding="utf-8")
    # Positive control: a page that does fetch something shows up in the network log.
    probe = tmp_path / "probe.html"
    probe.write_text('<!doctype html><img src="http://report-probe.invalid/pixel.png">')
    _, probe_urls = chromium(tmp_path, probe, "--dump-dom")
    assert any("report-probe.invalid" in url for url in probe_urls), probe_urls

    dom, urls = chromium(tmp_path, out, "--dump-dom")
    assert page_requests(urls) == set()
    rows = section_rows(dom)
    assert list(rows) == list(SECTIONS) and all(count > 0 for count in rows.values()), rows
    for name in ("changes-per-day", "heatmap", "top-actors", "sensitive", "rule-changes"):
        assert "<svg" in section_html(dom, name) and "<rect" in section_html(dom, name), name

    screenshot = tmp_path / "report.png"
    _, urls = chromium(tmp_path, out, f"--screenshot={screenshot}", "--window-size=1400,2400")
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
    assert run_report(path, out).exit_code == 0
    html = out.read_text(encoding="utf-8")
    hidden = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
    assert not hidden.search(html), repr(hidden.search(html))
    for name in ("critical-high", "sensitive"):
        assert 'Mallory <mark class="hidden-char" title="invisible character U+202E in the data">&lt;U+202E&gt;</mark>' \
               "txt.exe\\x1b[2J" in section_html(html, name), name
    rules = section_html(html, "rule-changes")
    for code in ("U+200B", "U+2066", "U+202E", "U+2069", "U+FEFF", "U+200D"):
        assert f"&lt;{code}&gt;</mark>" in rules, code
    # In the charts (SVG text holds text only) the same characters show as <U+XXXX>, unmarked.
    assert ">Mallory &lt;U+202E&gt;txt.exe" in bar_chart([("Mallory \u202etxt.exe\x1b[2J", 2)], "people")


@pytest.mark.postgres
def test_the_same_review_on_postgresql(postgres: str, loaded: Path, tmp_path: Path) -> None:
    with Sandbox(records=3_000, seed=11) as sandbox:
        load_sandbox(sandbox, destination="postgres", dataset=postgres)
    build_models(create_pipeline("postgres", postgres))
    out = tmp_path / "pg.html"
    result = run_report(tmp_path / "unused.duckdb", out, *Q3, "--destination", "postgres", "--dataset", postgres)
    assert result.exit_code == 0, result.output
    duck = tmp_path / "duck.html"
    assert run_report(loaded, duck, *Q3).exit_code == 0
    pg_rows, duck_rows = section_rows(out.read_text(encoding="utf-8")), section_rows(duck.read_text(encoding="utf-8"))
    # The DuckDB dataset has an approved-actor list and an incident; the PostgreSQL one the default seeds.
    for name in ("unapproved-actors", "incidents"):
        pg_rows.pop(name), duck_rows.pop(name)
    assert pg_rows == duck_rows


def test_several_accounts_each_with_its_zone_cursor_and_last_load(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = sandbox_factory(subdomain="acme", records=150, seed=55)
    beta = sandbox_factory(subdomain="beta", records=120, seed=56, settings_forbidden=True)
    configure_accounts(monkeypatch, tmp_path, acme, beta)
    monkeypatch.setenv("SOURCES__ZENDESK_AUDIT__ACCOUNTS__ACME__TIME_ZONE", "Asia/Tokyo")
    database = tmp_path / "z.duckdb"
    loaded = CliRunner().invoke(cli, ["load", "--subdomain", "acme", "--subdomain", "beta", "--duckdb-path", str(database)],
                                catch_exceptions=False)
    assert loaded.exit_code == 0, loaded.output
    out = tmp_path / "both.html"
    result = run_report(database, out)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    cover = visible_text(html[html.index('id="cover"'):html.index('id="part-summary"')])
    assert "Accounts acme, beta" in cover
    assert "acme: Asia/Tokyo, set in this installation's configuration; beta: UTC, because the account's own time zone " \
           "could not be read" in cover
    assert "Local times for beta are in UTC, not the account's time zone: Zendesk refused" in cover  # the notice
    for subdomain in ("acme", "beta"):
        count, latest = raw(database, f"select count(*), max(created_at) from zendesk_audit.audit_logs "
                                      f"where subdomain = '{subdomain}'")[0]
        (loaded_at,) = raw(database, f"select loaded_at from zendesk_audit.accounts where subdomain = '{subdomain}'")[0]
        assert f"{subdomain}: {count:,} records in all, the latest of {moment(latest)}; loaded up to {moment(latest)} " \
               f"(the next load continues from there); last load {moment(loaded_at)}." in cover, subdomain
    assert section_rows(html)["headline"] == 270


# ----------------------------------------------------------------------------- the pieces, without a database
def test_long_values_wrap_only_at_sensible_points_and_stay_escaped() -> None:
    assert breakable("CRITICAL") == "CRITICAL" and breakable("Administrator") == "Administrator"
    assert breakable("https://example.invalid/a/b?x=1") == \
        "https:<wbr>/<wbr>/<wbr>example.<wbr>invalid/<wbr>a/<wbr>b?<wbr>x=<wbr>1"
    assert breakable("2001:db8:85a3:0:0:8a2e:370:7334") == "2001:<wbr>db8:<wbr>85a3:<wbr>0:<wbr>0:<wbr>8a2e:<wbr>370:<wbr>7334"
    assert breakable("x" * 45) == "<wbr>".join(["x" * 20, "x" * 20, "x" * 5])  # a run with no break point: cut every 20
    assert breakable("<b>&amp; two-factor") == "&lt;b&gt;&amp;amp; two-factor"
    assert breakable("evil\u202etxt.exe.and.more.text") == (
        'evil<mark class="hidden-char" title="invisible character U+202E in the data">&lt;U+202E&gt;</mark>txt.<wbr>'
        "exe.<wbr>and.<wbr>more.<wbr>text"
    )
    assert shorten("Role changed from Light Agent to Administrator", 30) == "Role changed from Light Agent…"
    assert shorten("short", 30) == "short"
    footer = css_string('acme"}</style><script>\u202e')
    assert footer.startswith('"') and footer.endswith('"') and '"' not in footer[1:-1] and "<" not in footer
    assert "\u202e" not in footer


def test_business_hours_and_off_hours_cells_in_words() -> None:
    week = [(day, 540, 1080) for day in range(1, 6)]
    assert business_hours_words(week) == "Monday to Friday, 09:00 to 18:00; Saturday and Sunday off hours all day"
    split = [(1, 540, 720), (1, 780, 1080), (3, 570, 1440)]
    assert business_hours_words(split) == ("Monday, 09:00 to 12:00 and 13:00 to 18:00; Wednesday, 09:30 to 24:00; "
                                           "Tuesday and Thursday to Sunday off hours all day")
    assert business_hours_words([]).startswith("no business hours are set up")
    zones = hour_zones(split)
    assert (zones[(1, 8)], zones[(1, 9)], zones[(1, 12)], zones[(1, 13)]) == ("off", "business", "off", "business")
    assert (zones[(3, 9)], zones[(3, 10)], zones[(3, 23)], zones[(2, 10)]) == ("partly", "business", "business", "off")
    assert set(hour_zones(None).values()) == {"business"}  # unknown hours: nothing marked


def test_periods_in_words() -> None:
    def window(start: str, end: str, open_start: bool = False, open_end: bool = False) -> Window:
        return Window(datetime.fromisoformat(start), datetime.fromisoformat(end), open_start, open_end)

    assert period_words(window("2026-07-01T00:00:00+00:00", "2026-10-01T00:00:00+00:00")) == \
        "1 July 2026 to 30 September 2026"
    assert period_words(window("2026-07-01T00:00:00+00:00", "2026-07-02T00:00:00+00:00")) == "1 July 2026"
    assert period_words(window("2026-07-01T08:00:00+00:00", "2026-07-01T17:30:00+00:00")) == \
        "1 July 2026, 08:00 UTC to 1 July 2026, 17:30 UTC (not included)"
    assert period_words(window("2026-07-01T00:00:00+00:00", "2026-07-03T10:00:01+00:00", open_end=True)) == \
        "from 1 July 2026, 00:00 UTC to the last record loaded (3 July 2026, 10:00 UTC)"
    assert period_words(None, Period.parse("2026-07-01", None)) == "from 1 July 2026, 00:00 UTC, with no record loaded in it"
    assert period_words(None, Period()) == "no record loaded"


@pytest.mark.parametrize(("out", "given", "expected"), [
    ("r.html", None, "html"), ("R.PDF", None, "pdf"), ("review", None, "html"), ("review", "pdf", "pdf"),
    ("r.htm", "HTML", "html"),
])
def test_the_format_follows_the_flag_then_the_extension(out: str, given: str | None, expected: str) -> None:
    assert report_format(out, given) == expected
