"""`models/dbt_macro_memo.py`: a later parse of the same macro files gets copies of the first parse's macros."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from zendesk_audit.load.pipeline import create_pipeline
from zendesk_audit.models import dbt_macro_memo
from zendesk_audit.models.dbt_project import DbtProject, profile_for
from zendesk_audit.settings import SQL_DIR


def _parse(sql_dir: Path, folder: Path, dataset: str) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = create_pipeline("duckdb", dataset, duckdb_path=str(folder / "zendesk.duckdb"))
    project = DbtProject(sql_dir, folder / "dbt", profile_for(pipeline, f"{dataset}_models"), sql_dir / "seeds")
    project.write_profile()
    return project.parse(json.dumps({"zendesk_audit_schema": dataset}))


def _macros(manifest: Any) -> dict[str, tuple[str, list[str], str]]:
    return {unique_id: (macro.macro_sql, sorted(macro.depends_on.macros), macro.original_file_path)
            for unique_id, macro in manifest.macros.items()}


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each of dbt's own macro parses, counted; the memo starts empty."""
    dbt_macro_memo.install()
    monkeypatch.setattr(dbt_macro_memo, "_parsed", {})
    counted: list[int] = []
    original = dbt_macro_memo._original

    def counting(loader: Any, files: Any) -> None:
        counted.append(1)
        original(loader, files)

    monkeypatch.setattr(dbt_macro_memo, "_original", counting)
    return counted


def test_a_second_parse_gets_copies_of_the_same_macros_dbt_parsed(tmp_path: Path, parses: list[int]) -> None:
    first = _parse(SQL_DIR, tmp_path / "one", "memo_one")
    assert len(parses) == 1
    second = _parse(SQL_DIR, tmp_path / "two", "memo_two")  # another folder, dataset and DuckDB file
    assert len(parses) == 1  # answered from the first parse
    assert len(first.macros) > 300 and _macros(second) == _macros(first)
    assert any(macro.depends_on.macros for macro in second.macros.values())
    assert all(second.macros[key] is not first.macros[key] for key in first.macros)  # copies, not shared
    # The files know their macros, as after dbt's own parse.
    assert {key for source in second.files.values() for key in getattr(source, "macros", [])} == set(second.macros)


def test_a_changed_macro_file_is_parsed_again(tmp_path: Path, parses: list[int]) -> None:
    _parse(SQL_DIR, tmp_path / "one", "memo_one")
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    assert len(parses) == 1
    _parse(sql_dir, tmp_path / "two", "memo_two")
    assert len(parses) == 2  # another project folder
    macro_file = sorted((sql_dir / "macros").glob("*.sql"))[0]
    macro_file.write_text(macro_file.read_text() + "\n{% macro memo_probe() %}1{% endmacro %}\n")
    changed = _parse(sql_dir, tmp_path / "three", "memo_three")
    assert len(parses) == 3
    assert "macro.zendesk_audit.memo_probe" in changed.macros


def test_dbts_own_partial_parse_after_a_macro_changed_is_left_to_dbt(tmp_path: Path, parses: list[int]) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    first = _parse(sql_dir, tmp_path / "one", "memo_one")
    assert len(parses) == 1 and len(dbt_macro_memo._parsed) == 1
    macro_file = sorted((sql_dir / "macros").glob("*.sql"))[0]
    macro_file.write_text(macro_file.read_text() + "\n{% macro memo_probe() %}1{% endmacro %}\n")
    again = _parse(sql_dir, tmp_path / "one", "memo_one")  # the same folder: dbt parses the changed file only
    log = (tmp_path / "one" / "dbt" / "logs" / "dbt.log").read_text()
    assert log.count("Starting full parse") == 1  # the first parse's; the second was partial
    assert len(parses) == 2 and len(dbt_macro_memo._parsed) == 1  # dbt's own, and nothing remembered
    probe = "macro.zendesk_audit.memo_probe"
    assert probe in again.macros and _macros(again) == {**_macros(first), probe: _macros(again)[probe]}
