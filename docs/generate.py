"""Every command output the README and the docs show, produced from the current code: `make docs`.

Why: a README that pastes outputs by hand goes stale (a demo's counts, a model count in a JSON
example, an option renamed). This script writes them instead, and tests/test_docs.py fails when
what is shown no longer matches what the code prints:

- docs/reference.md: `zendesk-audit --help` and every subcommand's `--help` (exact text);
- marked blocks in README.md and docs/*.md, between `<!-- generated: NAME -->` and
  `<!-- /generated -->`: `demo` (what `make demo` prints), `models-after-demo` (`models build`
  and `models status` on the demo's file) and `load-json` (a first `zendesk-audit load --json`
  against a small sandbox).

Run with the package importable (`make docs` does). `--help-only` skips the runs against the
sandbox (seconds instead of about half a minute).
"""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)
HELP_WIDTH = 100
JSON_SANDBOX = {"records": 2_000, "seed": 7}


def cli_group() -> click.Group:
    from zendesk_audit.cli import cli

    return cli


def command_paths() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command and subcommand, the group first, in the order `--help` lists them."""

    def walk(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        ctx = click.Context(group, info_name=" ".join(("zendesk-audit", *path)))
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            yield (*path, name), command
            if isinstance(command, click.Group):
                yield from walk(command, (*path, name))

    group = cli_group()
    yield (), group
    yield from walk(group, ())


def help_text(path: tuple[str, ...]) -> str:
    """`zendesk-audit PATH --help` as a terminal HELP_WIDTH wide shows it."""
    result = CliRunner().invoke(cli_group(), [*path, "--help"], prog_name="zendesk-audit", terminal_width=HELP_WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"zendesk-audit {' '.join(path)} --help exited {result.exit_code}: {result.output}")
    return result.output.rstrip() + "\n"


def reference_page() -> str:
    parts = [
        "# Command reference\n",
        "Every command's `--help`, written by `docs/generate.py` (`make docs`) from the current code;",
        "`tests/test_docs.py` fails when this page and the code disagree. The guides explain each",
        "command: [load](cli.md), [status and repair-cursor](operations.md), [models](models.md),",
        "[detections](detections.md), [alerts, report, evidence](evidence.md),",
        "[import-csv, export-request](imports.md), [sandbox](sandbox.md).\n",
    ]
    for path, _command in command_paths():
        title = " ".join(("zendesk-audit", *path))
        parts += [f"## `{title}`\n", "```", f"$ {title} --help", help_text(path).rstrip(), "```\n"]
    return "\n".join(parts)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "MODELS__"))}
    full.update(env, DLT_DATA_DIR=str(cwd / "dlt-data"), DO_NOT_TRACK="1", PYTHONPATH=str(ROOT / "pipelines"))
    return subprocess.run([sys.executable, "-m", "zendesk_audit", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def _shown_paths(text: str) -> str:
    """The interpreter's folder as a fresh clone's `make demo` shows it (`.venv/bin/`)."""
    return text.replace(str(Path(sys.executable).parent) + "/", ".venv/bin/")


@functools.cache
def demo_outputs() -> dict[str, str]:
    """What `make demo` prints (`zendesk-audit demo` in an empty folder, 20,000 sandbox records), then
    `models build` (nothing to do) and `models status` on the file it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        outputs = {}
        steps = {
            "demo": (["demo"], "make demo"),
            "models-after-demo": (["models", "build", "--duckdb-path", "zendesk_demo.duckdb"], None),
            "models-status-after-demo": (["models", "status", "--duckdb-path", "zendesk_demo.duckdb"], None),
        }
        for name, (args, shown) in steps.items():
            result = _run(args, Path(folder), {})
            if result.returncode != 0:
                raise RuntimeError(f"zendesk-audit {' '.join(args)} exited {result.returncode}: {result.stderr}")
            outputs[name] = f"$ {shown or 'zendesk-audit ' + ' '.join(args)}\n" + _shown_paths(result.stdout)
    outputs["models-after-demo"] = outputs["models-after-demo"] + outputs.pop("models-status-after-demo")
    return outputs


def load_json_output() -> str:
    """A first `zendesk-audit load --json` against a small sandbox, with OAuth client credentials."""
    from zendesk_sandbox import Sandbox

    with tempfile.TemporaryDirectory() as folder, Sandbox(**JSON_SANDBOX) as sandbox:
        env = {
            "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
            "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
            "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
            "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret,
        }
        result = _run(["load", "--json"], Path(folder), env)
    if result.returncode != 0:
        raise RuntimeError(f"zendesk-audit load --json exited {result.returncode}: {result.stderr}")
    return "$ zendesk-audit load --json     # prints one line; laid out here\n" + layout_json(json.loads(result.stdout)) + "\n"


def layout_json(value: Any, indent: str = "") -> str:
    """JSON with each key of an object on its own line and each item of a list on its own line
    (the items themselves on one line): readable, and still exactly the command's values."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        lines = [f"{inner}{json.dumps(key)}: {layout_json(item, inner)}" for key, item in value.items()]
        return "{\n" + ",\n".join(lines) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        lines = [f"{inner}{json.dumps(item, ensure_ascii=False)}" for item in value]
        return "[\n" + ",\n".join(lines) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def bench_results() -> str:
    """bench/results.md, which `make bench` writes, as a section of the benchmarks page (headings one level down)."""
    text = (ROOT / "bench" / "results.md").read_text()
    text = re.sub(r"^# Benchmarks\n", "## The latest `make bench` run (`bench/results.md`)\n", text, count=1)
    lines = text.splitlines()
    return "\n".join(lines[:1] + [("#" + line if line.startswith("## ") else line) for line in lines[1:]]) + "\n"


# Blocks written as Markdown, not as a code fence.
RAW_BLOCKS = {"bench-results"}

PRODUCERS: dict[str, Callable[[], str]] = {
    "bench-results": bench_results,
    "demo": lambda: demo_outputs()["demo"],
    "models-after-demo": lambda: demo_outputs()["models-after-demo"],
    "load-json": load_json_output,
}


def normalize(text: str) -> str:
    """What changes from run to run and machine to machine, masked: ports, durations, request
    counts (the workers' windows vary), pipeline keys (a hash of the file's path), load ids, memory."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"\b\d+(\.\d+)? s\b", "N s", text)
    text = re.sub(r"\b[\d,]+ (requests|retries|rate-limit waits|pages)\b", r"N \1", text)
    text = re.sub(r"_[0-9a-f]{8}\b", "_KEY", text)
    text = re.sub(r'"(seconds|requests|list_requests|pages|peak_rss_mb|retries|rate_limit_waits)": [\d.]+',
                  r'"\1": N', text)
    text = re.sub(r'"load_ids": \[[^\]]*\]', '"load_ids": [N]', text)
    text = re.sub(r"/[^\s\"']*/(zendesk_demo\.duckdb|zendesk\.duckdb)", r"\1", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?\b", "TIME", text)
    return text


def blocks(text: str) -> dict[str, str]:
    """The generated blocks of one file: name -> the text inside its code fence."""
    found = {}
    for match in BLOCK.finditer(text):
        body = match.group("body").strip("\n")
        if match.group("name") not in RAW_BLOCKS:
            body = body.removeprefix("```").removesuffix("```").strip("\n")
        found[match.group("name")] = body + "\n"
    return found


def fill_blocks(text: str, outputs: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in outputs:
            return match.group(0)
        if name in RAW_BLOCKS:
            return f"{match.group(1)}{outputs[name].rstrip()}\n{match.group(4)}"
        return f"{match.group(1)}```\n{outputs[name].rstrip()}\n```\n{match.group(4)}"

    return BLOCK.sub(replace, text)


def documented_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def main(argv: list[str]) -> int:
    REFERENCE.write_text(reference_page())
    if "--help-only" in argv:
        return 0
    wanted = set().union(*(blocks(path.read_text()) for path in documented_files()))
    unknown = wanted - set(PRODUCERS)
    if unknown:
        print(f"error: unknown generated block(s) {sorted(unknown)}: known are {sorted(PRODUCERS)}", file=sys.stderr)
        return 2
    outputs = {name: PRODUCERS[name]() for name in sorted(wanted)}
    for path in documented_files():
        text = path.read_text()
        new = fill_blocks(text, outputs)
        if new != text:
            path.write_text(new)
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
