"""The README and the docs site stay true to the code.

- docs/reference.md is every command's `--help` as the code prints it now;
- every `--option` the README or a docs page writes after a command exists in that command;
- every generated block (`<!-- generated: NAME -->`) shows what the code prints now: the demo,
  the models after it and a `load --json` are run again and compared, with what changes from run
  to run (ports, durations, request counts, hashes of paths) masked;
- the site builds with `mkdocs build --strict` (broken links and anchors fail), and every page
  is in its navigation.

After a change to the CLI, `make docs` regenerates the outputs (docs/generate.py).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generate = _generate()
GUIDES = [path for path in sorted(DOCS.glob("*.md")) if path.name != "reference.md"]
WRITTEN = [ROOT / "README.md", *GUIDES]


def _commands() -> dict[str, click.Command]:
    """'load', 'models build', ... -> the click command."""
    return {" ".join(path): command for path, command in generate.command_paths() if path}


def _options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(param.opts, param.secondary_opts)
    return names


def test_the_command_reference_is_the_current_help() -> None:
    shown = (DOCS / "reference.md").read_text()
    assert shown == generate.reference_page(), "docs/reference.md is stale: run `make docs` (docs/generate.py)"


def test_every_command_is_in_the_reference_with_an_example() -> None:
    reference = (DOCS / "reference.md").read_text()
    for name in _commands():
        assert f"## `zendesk-audit {name}`" in reference, name
        assert "Example" in generate.help_text(tuple(name.split())), f"zendesk-audit {name} --help has no example"


# A mention: `zendesk-audit CMD [SUB] ...` up to the end of its code span or line; a usage synopsis
# goes on over lines that start with blanks and `[`.
MENTION = re.compile(r"zendesk-audit((?: [a-z][a-z-]*){1,2})([^`\n]*)")
CONTINUATION = re.compile(r"^\s+\[")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _mentions(text: str) -> list[tuple[str, str, int]]:
    """(words after zendesk-audit, the rest of the mention, line number) for each mention."""
    found: list[tuple[str, str, int]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if CONTINUATION.match(line) and found and found[-1][2] == number - 1:
            words, rest, _ = found[-1]
            found[-1] = (words, rest + " " + line, number)
            continue
        for match in MENTION.finditer(line):
            found.append((match.group(1).strip(), match.group(2), number))
    return found


def _resolve(words: str, commands: dict[str, click.Command]) -> str | None:
    parts = words.split()
    if len(parts) > 1 and f"{parts[0]} {parts[1]}" in commands:
        return f"{parts[0]} {parts[1]}"
    return parts[0] if parts and parts[0] in commands else None


def test_every_documented_option_exists_in_its_command() -> None:
    commands = _commands()
    problems = []
    for path in WRITTEN:
        for words, rest, number in _mentions(path.read_text()):
            name = _resolve(words, commands)
            if name is None:
                continue
            tail = words.split()[len(name.split()):]
            text = " ".join(tail) + " " + rest
            # Another command on the same line (`a; zendesk-audit b`) is its own mention.
            text = re.split(r"zendesk-audit|[;|]|&&", text)[0]
            for option in OPTION.findall(text):
                if option not in _options(commands[name]):
                    problems.append(f"{path.relative_to(ROOT)}:{number}: zendesk-audit {name} has no option {option}")
    assert not problems, "\n".join(problems)


def test_the_option_check_can_fail() -> None:
    """The check above reads mentions the way the pages write them (inline, in blocks, in synopses)."""
    sample = (
        "run `zendesk-audit load --no-such-option`\n"
        "zendesk-audit models build --full-refresh --nope\n"
        "zendesk-audit status [--subdomain S]\n"
        "                     [--bogus]\n"
    )
    mentions = _mentions(sample)
    assert [(words.split()[0], OPTION.findall(rest)) for words, rest, _ in mentions] == [
        ("load", ["--no-such-option"]), ("models", ["--full-refresh", "--nope"]), ("status", ["--subdomain", "--bogus"]),
    ]
    assert _resolve("models build", _commands()) == "models build"


def test_every_command_is_documented_in_a_guide_and_in_the_readme() -> None:
    """Each command has a guide page that explains it (not only the generated reference) and a row
    in the README's commands at a glance."""
    guides = "\n".join(path.read_text() for path in GUIDES)
    readme = (ROOT / "README.md").read_text()
    for name in _commands():
        assert f"zendesk-audit {name}" in guides, f"`zendesk-audit {name}` is in no docs page"
        top = name.split()[0]
        assert f"zendesk-audit {top}" in readme, f"`zendesk-audit {top}` is not in the README's commands at a glance"


def test_the_readme_is_short_and_links_into_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target
    assert "pip install zendesk-audit`" not in readme.replace("`pip install zendesk-audit` finds nothing", "")


def test_every_generated_block_has_a_producer_and_bench_results_are_current() -> None:
    names = set()
    for path in WRITTEN:
        text = path.read_text()
        opened = re.findall(r"^<!-- generated: ", text, re.M)
        assert len(opened) == len(re.findall(r"^<!-- /generated -->", text, re.M)) == len(generate.blocks(text)), path
        names |= set(generate.blocks(text))
    assert names <= set(generate.PRODUCERS), names - set(generate.PRODUCERS)
    assert names == set(generate.PRODUCERS), f"no page shows {set(generate.PRODUCERS) - names}"
    shown = generate.blocks((DOCS / "benchmarks.md").read_text())["bench-results"]
    assert shown == generate.bench_results(), "bench/results.md changed: run `make docs`"


@pytest.mark.slow
def test_the_shown_outputs_are_what_the_code_prints_now() -> None:
    """Runs the demo (20,000 records) and the commands shown on its file, a `load --json` and a
    `detections export` again (about a minute)."""
    shown = [(path, name, body) for path in WRITTEN for name, body in generate.blocks(path.read_text()).items()]
    fresh = {name: generate.normalize(produce()) for name, produce in generate.PRODUCERS.items() if name != "bench-results"}
    problems = [
        f"{path.relative_to(ROOT)}: {name}: the page shows\n{generate.normalize(body)}\nthe code prints\n{fresh[name]}"
        for path, name, body in shown if name in fresh and generate.normalize(body) != fresh[name]
    ]
    assert {name for _, name, _ in shown} >= set(fresh)
    assert not problems, "run `make docs`:\n" + "\n".join(problems)


def test_normalize_masks_what_varies_and_keeps_the_counts() -> None:
    one = "served at http://127.0.0.1:41234\nloaded 20,000 records in 2.7 s: 207 requests; dlt pipeline x_duckdb_y_266a56c6"
    two = "served at http://127.0.0.1:5555\nloaded 20,000 records in 12.0 s: 225 requests; dlt pipeline x_duckdb_y_0badcafe"
    assert generate.normalize(one) == generate.normalize(two)
    assert generate.normalize(one) != generate.normalize(one.replace("20,000", "19,999"))


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(nav: object) -> set[str]:
        if isinstance(nav, str):
            return {nav}
        if isinstance(nav, dict):
            return set().union(*(pages(value) for value in nav.values()))
        if isinstance(nav, list):
            return set().union(*(pages(item) for item in nav))
        return set()

    assert pages(config["nav"]) == {path.name for path in DOCS.glob("*.md")}
    for image in ("report-html.png", "report-pdf.png"):
        assert (DOCS / image).exists() and f"]({image})" in (DOCS / "evidence.md").read_text(), image


def test_the_site_builds_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict`: a broken link or anchor, or a page outside the navigation, fails."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (make test installs it)")
    result = subprocess.run([mkdocs, "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr


def test_every_mart_is_documented_on_the_marts_page() -> None:
    """Each public mart of sql/models/marts has its row (grain, columns) on docs/marts.md."""
    page = (DOCS / "marts.md").read_text()
    for path in sorted((ROOT / "sql" / "models" / "marts").glob("*.sql")):
        assert re.search(rf"^\| `{path.stem}`", page, re.M), f"{path.stem} has no row in docs/marts.md"
