"""dbt's parse of the macros, done once per process for the same macro files.

A pipeline's first build parses the dbt project in full (its working folder holds no partial-parse
file of dbt's yet, and dbt's check of that file covers the vars, profile and seeds folder, which
differ per pipeline). Almost half of a full parse is the macros: dbt's own (its global project), the
adapter's and ours, each read, split into Jinja blocks, and searched for the macros it calls
(`ManifestLoader.load_and_parse_macros`; py-spy over the models' tests: 45% of the parse). None of
that depends on the vars, the profile or the dataset: only on the macro files. So a process that
builds several pipelines (an orchestrator's worker, the test suite) parses a given set of macro
files once and gives every later parse copies of the result (`copy.deepcopy`: a parse may amend
its macros, from the project's YAML).

The set is named by each project's name and folder and each macro file's id and checksum (dbt's own
file hash), and dbt's version: a changed file, another adapter or another project parses afresh.
`install()` puts it in place, once per process, before dbt runs (`dbt_project.DbtProject.invoke`).
"""
from __future__ import annotations

import copy
from typing import Any

# The macro files' parsers, in the order dbt's loader runs them for each project.
_PARSERS = ("MacroParser", "GenericTestParser")
_parsed: dict[tuple[Any, ...], list[tuple[str, list[Any]]]] = {}
_original: Any = None


def _files(loader: Any, project_parser_files: dict[str, dict[str, list[str]]]) -> list[str]:
    return [
        file_id
        for project in loader.all_projects.values()
        for parser in _PARSERS
        for file_id in project_parser_files.get(project.project_name, {}).get(parser, [])
    ]


def _key(loader: Any, file_ids: list[str]) -> tuple[Any, ...]:
    from dbt.version import __version__

    projects = tuple((name, str(project.project_root)) for name, project in loader.all_projects.items())
    files = tuple((file_id, loader.manifest.files[file_id].checksum.checksum) for file_id in file_ids)
    return __version__, projects, files


def load_and_parse_macros(loader: Any, project_parser_files: dict[str, dict[str, list[str]]]) -> None:
    """`ManifestLoader.load_and_parse_macros`, answered from this process's earlier parse of the
    same macro files when there is one. A partial parse (dbt's, which starts from the macros it
    saved and parses only the changed files) is dbt's alone: the macros each one calls depend on
    the others, which the key does not name."""
    if loader.manifest.macros:
        _original(loader, project_parser_files)
        return
    file_ids = _files(loader, project_parser_files)
    key = _key(loader, file_ids)
    parsed = _parsed.get(key)
    if parsed is None:
        _original(loader, project_parser_files)
        manifest = loader.manifest
        _parsed[key] = [
            (file_id, [copy.deepcopy(manifest.macros[unique_id]) for unique_id in manifest.files[file_id].macros])
            for file_id in file_ids
        ]
        return
    for file_id, macros in parsed:
        source_file = loader.manifest.files[file_id]
        for macro in macros:
            loader.manifest.add_macro(source_file, copy.deepcopy(macro))
        loader._perf_info.parsed_path_count += 1
    loader.build_macro_resolver()
    # No `macro_depends_on()`: the copies carry the macros each one calls, found by the first parse.


def install() -> None:
    """Put `load_and_parse_macros` in place of dbt's (idempotent)."""
    from dbt.parser.manifest import ManifestLoader

    global _original
    current = ManifestLoader.__dict__["load_and_parse_macros"]
    if current is not load_and_parse_macros:
        _original = current
        ManifestLoader.load_and_parse_macros = load_and_parse_macros  # type: ignore[method-assign]
