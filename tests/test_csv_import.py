"""`zendesk-audit import-csv`: header mapping, refusals, idempotency, reconciliation with the API, bounded memory."""
from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from conftest import load_sandbox, postgres_rows
from zendesk_audit.cli.commands import cli
from zendesk_audit.errors import CsvImportError
from zendesk_audit.extract.csv_source import content_key, map_headers, parse_csv_time, write_admin_center_csv
from zendesk_audit.load.csv_import import import_csv
from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models.build import check_models

UI_COLUMNS = ["Time", "Actor", "IP address", "Item", "Activity type", "Activity"]


def ui_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """The Admin Center columns of API records, times as `YYYY-MM-DD HH:MM:SS UTC`."""
    return [
        [
            record["created_at"].replace("T", " ").replace("Z", " UTC"),
            record["actor_name"] or "",
            record["ip_address"] or "",
            record["source_label"] or "",
            record["action_label"] or "",
            record["change_description"] or "",
        ]
        for record in records
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def rows_of(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ----------------------------------------------------------------------------- mapping
def test_headers_map_by_name_in_any_case_spacing_and_order() -> None:
    assert map_headers([" activity TYPE", "ip_address", "TIME", "Actor", "item ", "Activity", ""]) == [
        "action_label", "ip_address", "created_at", "actor_name", "source_label", "change_description", None,
    ]
    assert map_headers(["created_at", "id", "actor_id", "source_type", "changes_description"]) == [
        "created_at", "id", "actor_id", "source_type", "change_description",
    ]


@pytest.mark.parametrize(
    "text",
    ["2024-01-31T09:15:00Z", "2024-01-31 09:15:00 UTC", "2024-01-31 09:15:00", "Jan 31, 2024 09:15:00",
     "January 31, 2024 9:15 AM", "2024-01-31T10:15:00+01:00"],
)
def test_times_are_utc(text: str) -> None:
    assert parse_csv_time(text).isoformat() == "2024-01-31T09:15:00+00:00"


def test_content_keys_are_negative_stable_and_count_repeats() -> None:
    row = {"created_at": parse_csv_time("2024-01-31 09:15:00"), "actor_name": "Zendesk", "source_label": "Attachment"}
    first, again, second = content_key("acme", row, 0), content_key("acme", row, 0), content_key("acme", row, 1)
    assert first == again and first != second and first < 0 and second < 0
    assert content_key("beta", row, 0) != first


# ----------------------------------------------------------------------------- the acceptance cases
def test_shuffled_recased_headers_import_and_twice_adds_nothing(sandbox: Any, tmp_path: Path) -> None:
    records = sandbox.records()[:300]
    header = ["activity TYPE", "Ip Address", "TIME", "activity", "ACTOR", " Item "]
    source_index = [4, 2, 0, 5, 1, 3]  # each header's position in UI_COLUMNS
    rows = [[row[i] for i in source_index] for row in ui_rows(records)]
    path = write_csv(tmp_path / "export.csv", header, rows)
    database = tmp_path / "z.duckdb"

    first = invoke("import-csv", str(path), "--subdomain", "acme", "--duckdb-path", str(database), "--no-models")
    assert first.exit_code == 0, first.output
    assert "imported 300 CSV rows" in first.output and "300 new" in first.output
    second = invoke("import-csv", str(path), "--subdomain", "acme", "--duckdb-path", str(database), "--json")
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output)
    assert summary["rows_read"] == 300 and summary["rows_new"] == 0

    loaded = rows_of(database, "select count(*), count(distinct id), max(id), min(_source), max(_source), "
                               "count(actor_id), count(*) filter (where action is null) from zendesk_audit.audit_logs")
    assert loaded == [(300, 300, loaded[0][2], "csv", "csv", 0, 0)] and loaded[0][2] < 0
    times = rows_of(database, "select min(created_at), max(created_at) from zendesk_audit.audit_logs")[0]
    assert times[0].isoformat().startswith(records[0]["created_at"][:19])
    assert times[1].isoformat().startswith(records[-1]["created_at"][:19])


def test_an_unknown_column_set_is_refused_with_the_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tickets.csv", ["Ticket ID", "Subject", "Time", "Requester"], [["1", "Hi", "2024-01-01", "x"]])
    database = tmp_path / "z.duckdb"
    result = CliRunner().invoke(cli, ["import-csv", str(path), "--subdomain", "acme", "--duckdb-path", str(database)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert f"{path}:1" in lines[0] and "'Ticket ID'" in lines[0] and "'Subject'" in lines[0] and "'Requester'" in lines[0]
    assert not database.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ":1: the file is empty"),
        (b"PK\x03\x04\x00\x00binary", ":1: not a CSV file"),
        (b'{"audit_logs": []}\n', "cannot map the column"),
        (b"Time,Actor\n2024-01-01 10:00:00,Ann\nyesterday,Bob\n", ":3: time 'yesterday'"),
        (b"Time,Actor\n2024-01-01 10:00:00,Ann,extra\n", ":2: 3 fields where the header has 2"),
        ("Time,Actor\n2024-01-01 10:00:00,\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"Actor,Item\nAnn,x\n", "no Time column"),
    ],
)
def test_bad_files_fail_in_one_line_with_file_and_line(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    args = ["import-csv", str(path), "--subdomain", "acme", "--duckdb-path", str(tmp_path / "z.duckdb")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and words in lines[0], lines


def test_same_second_identical_rows_stay_separate_rows(tmp_path: Path) -> None:
    row = ["2024-01-01 10:00:00 UTC", "Zendesk", "", "Attachment", "Deleted", ""]
    path = write_csv(tmp_path / "burst.csv", UI_COLUMNS, [row, row, row])
    database = tmp_path / "z.duckdb"
    assert import_csv([str(path)], subdomain="acme", duckdb_path=str(database)).rows_new == 3
    assert import_csv([str(path)], subdomain="acme", duckdb_path=str(database)).rows_new == 0
    assert rows_of(database, "select count(*), min(action) from zendesk_audit.audit_logs") == [(3, "destroy")]


def test_csv_and_api_of_the_same_period_reconcile_to_nothing(sandbox: Any, tmp_path: Path) -> None:
    database = tmp_path / "z.duckdb"
    load_sandbox(sandbox, duckdb_path=database)
    records = sandbox.records()
    period = records[500:1500]  # a CSV covers part of the API's history: only that part is compared
    path = tmp_path / "export.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        write_admin_center_csv(period, handle)
    result = import_csv([str(path)], subdomain=sandbox.config.subdomain, duckdb_path=str(database), build_models=True)
    assert result.rows_new == 1000
    assert rows_of(database, "select count(*) from zendesk_audit_models.csv_api_reconciliation") == [(0,)]
    sources = rows_of(database, "select _source, count(*) from zendesk_audit.audit_logs group by 1 order by 1")
    assert sources == [("api", len(records)), ("csv", 1000)]

    # Drop one row from the CSV and add one the API never had: both show, each once, on its side.
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    dropped = rows.pop(400)
    invented = [rows[600][0], "Mallory", "10.9.9.9", "API token: backdoor", "Created", ""]
    edited = write_csv(tmp_path / "edited.csv", header, [*rows, invented])
    fresh = tmp_path / "fresh.duckdb"
    load_sandbox(sandbox, duckdb_path=fresh)
    import_csv([str(edited)], subdomain=sandbox.config.subdomain, duckdb_path=str(fresh), build_models=True)
    differences = rows_of(fresh, "select present_in, missing_from, actor_name, source_label, action_type "
                                 "from zendesk_audit_models.csv_api_reconciliation order by present_in")
    assert differences == [
        ("api", "csv", dropped[1], dropped[3], differences[0][4]),
        ("csv", "api", "Mallory", "API token: backdoor", "create"),
    ]
    assert check_models(create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(fresh))) == []


def test_a_large_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    """200,000 rows parsed in a child process (a clean peak RSS): memory must not follow the file.

    Measured when written: parsing 200k rows (30 MB) grows peak RSS by about 8 MB at ~80k rows/s;
    the full import with DuckDB runs at ~25k rows/s and stays near 280 MB growth from 200k to
    1.2M rows, because it commits every 100,000 rows (see docs/imports.md).
    """
    rng = random.Random(3)
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(UI_COLUMNS)
        for number in range(200_000):
            writer.writerow([time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1_700_000_000 + number // 3)),
                             f"Agent {rng.randrange(50)}", "10.0.0.1", f"Trigger: rule {rng.randrange(300)}",
                             "Updated", "Role changed from Agent to Administrator"])
    script = textwrap.dedent(f"""
        import resource, time
        from zendesk_audit.extract.csv_source import read_csv_rows
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        rows = sum(len(batch) for batch in read_csv_rows({str(path)!r}, "acme"))
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(rows, (after - before) / 1024, rows / seconds)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    rows, growth_mb, rate = done.stdout.split()
    assert int(rows) == 200_000
    assert float(growth_mb) < 40, f"peak RSS grew {growth_mb} MB while parsing 200k rows"
    print(f"parsed 200k rows at {float(rate):,.0f} rows/s, peak RSS growth {float(growth_mb):.1f} MB")


def test_chunks_commit_separately_and_count_once(sandbox: Any, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        write_admin_center_csv(sandbox.records()[:1200], handle)
    database = tmp_path / "z.duckdb"
    result = import_csv([str(path)], subdomain="acme", duckdb_path=str(database), chunk_rows=500)
    assert result.rows_read == 1200 and result.rows_new == 1200 and len(result.load_ids) == 3


def test_the_api_cursor_is_untouched_by_an_import(sandbox: Any, tmp_path: Path) -> None:
    database = tmp_path / "z.duckdb"
    load_sandbox(sandbox, duckdb_path=database, end="2026-01-01")  # a bounded backfill: no cursor yet
    api_pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(database))
    state_before = json.dumps(api_pipeline.state.get("sources", {}), default=str, sort_keys=True)
    path = write_csv(tmp_path / "one.csv", UI_COLUMNS, [["2030-01-01 00:00:00", "Ann", "", "x", "Updated", ""]])
    import_csv([str(path)], subdomain="acme", duckdb_path=str(database))
    after = create_pipeline("duckdb", "zendesk_audit", duckdb_path=str(database))
    assert json.dumps(after.state.get("sources", {}), default=str, sort_keys=True) == state_before


@pytest.mark.parametrize("destination", ["duckdb", "postgres", "iceberg"])
def test_a_csv_row_with_the_id_of_an_api_record_never_replaces_it(
    sandbox: Any, tmp_path: Path, destination: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's record is the original: a CSV row with its id is left out and counted as such.
    On Iceberg the DuckDB file is the one beside the lake, whose views the import moved forward."""
    dataset = request.getfixturevalue("postgres") if destination == "postgres" else "zendesk_audit"
    monkeypatch.setenv("DESTINATION__ICEBERG__BUCKET_URL", (tmp_path / "lake").as_uri())
    database = tmp_path / "z.duckdb"
    load_sandbox(sandbox, duckdb_path=database, destination=destination, dataset=dataset)
    record = sandbox.records()[10]
    new_id = max(sandbox.ids()) + 1
    path = write_csv(tmp_path / "ids.csv", ["id", "created_at", "actor_name", "source_label", "action_label"], [
        [str(record["id"]), record["created_at"], "Mallory", "forged", "Deleted"],
        [str(new_id), record["created_at"], "Ann", "Trigger: x", "Updated"],
    ])
    where = ["--destination", destination, "--dataset", dataset, "--duckdb-path", str(database)]
    result = invoke("import-csv", str(path), "--subdomain", sandbox.config.subdomain, "--no-models", *where)
    assert result.exit_code == 0, result.output
    assert "imported 2 CSV rows" in result.output
    assert "1 new, 0 already there, 1 already there from the API (kept as the API loaded them)" in result.output

    query = (f"select _source, actor_name, source_label from {dataset}.audit_logs where id = {record['id']}")
    kept = postgres_rows(dataset, query) if destination == "postgres" else rows_of(database, query)
    assert kept == [("api", record["actor_name"], record["source_label"])]
    count = f"select count(*), count(*) filter (where _source = 'csv') from {dataset}.audit_logs"
    counts = postgres_rows(dataset, count) if destination == "postgres" else rows_of(database, count)
    assert counts == [(len(sandbox.ids()) + 1, 1)]


def test_a_csv_without_subdomain_says_how_to_give_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__ZENDESK_AUDIT__SUBDOMAIN", raising=False)
    monkeypatch.chdir(tmp_path)
    path = write_csv(tmp_path / "one.csv", UI_COLUMNS, [["2024-01-01 00:00:00", "Ann", "", "x", "Updated", ""]])
    result = CliRunner().invoke(cli, ["import-csv", str(path)])
    assert result.exit_code == 2 and "--subdomain" in result.output


def test_import_error_class_is_a_configuration_error() -> None:
    assert CsvImportError("x").exit_code == 2
