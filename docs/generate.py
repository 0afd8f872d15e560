"""Every command output the README and the docs show, produced from the current code: `make docs`.

Why: a README that pastes outputs by hand goes stale (a demo's counts, a model count in a JSON
example, an option renamed). This script writes them instead, and tests/test_docs.py fails when
what is shown no longer matches what the code prints:

- docs/reference.md: `zendesk-audit --help` and every subcommand's `--help` (exact text);
- marked blocks in README.md and docs/*.md, between `<!-- generated: NAME -->` and
  `<!-- /generated -->`:
  - DEMO_STEPS: `demo` (what `make demo` prints), then commands on the file it wrote: `models
    build` and `status`, `status`, `report`, `evidence` and a failing `evidence verify`,
    `alerts`, `models init-seeds`, a bad seed row, bad team rules;
  - SANDBOX_STEPS, against a small sandbox: a first `load --json`, `import-csv`,
    `export-request`, and a load whose models fail (exit 4);
  - `detections-export` (the shipped rules for Splunk) and `bench-results` (bench/results.md,
    which `make bench` writes).

Run with the package importable (`make docs` does). `--help-only` writes the reference alone
(seconds instead of about two minutes).
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
        "[import-csv, export-request](imports.md), [dashboards](dashboards.md), [sandbox](sandbox.md).\n",
    ]
    for path, _command in command_paths():
        title = " ".join(("zendesk-audit", *path))
        parts += [f"## `{title}`\n", "```", f"$ {title} --help", help_text(path).rstrip(), "```\n"]
    return "\n".join(parts)


def _run(args: list[str], cwd: Path, env: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    """`zendesk-audit ARGS` in a child process, this checkout's code first, no settings of the caller's."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "MODELS__"))}
    full.update(DLT_DATA_DIR=str(cwd / "dlt-data"), DO_NOT_TRACK="1", PYTHONPATH=str(ROOT / "pipelines"))
    full.update({key: value for key, value in env.items() if value is not None})
    for key in [key for key, value in env.items() if value is None]:
        full.pop(key, None)
    return subprocess.run([sys.executable, "-m", "zendesk_audit", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def _shown_paths(text: str) -> str:
    """The interpreter's folder as a fresh clone's `make demo` shows it (`.venv/bin/`)."""
    return text.replace(str(Path(sys.executable).parent) + "/", ".venv/bin/")


@dataclass(frozen=True)
class Step:
    """One command run in the demo's folder, shown under `block` as a terminal shows it."""

    block: str
    args: list[str]
    shown: str = ""  # the command line as the page shows it; default `zendesk-audit ARGS`
    exit_code: int = 0
    env: dict[str, str | None] = field(default_factory=dict)  # None: not set
    before: Callable[[Path], None] | None = None  # e.g. change a file the next command checks
    show_stderr: bool = True  # False: stdout alone (what an orchestrator parses)


QUARTER = ["--from", "2026-07-01", "--to", "2026-10-01"]
DEMO_DB = ["--duckdb-path", "zendesk_demo.duckdb"]


def _change_an_exported_file(folder: Path) -> None:
    with open(folder / "evidence-2026-q3" / "models" / "sensitive_changes.csv", "a", encoding="utf-8") as file:
        file.write("x")


# The team rule docs/detections.md shows, and one that uses a modifier SQL cannot express.
TEAM_RULE = """title: Trigger deleted
id: 5a2b4c47-6f61-4f43-9a57-3f7a31f6a2b1
name: trigger_deleted
logsource: {product: zendesk, service: audit_log}
detection:
  selection:
    source_type: rule
    source_label|startswith: 'Trigger:'
    action: destroy
  condition: selection
level: medium
tags: [attack.impact, attack.t1485]
"""
VPN_RULE = """title: Sign-in from outside the VPN
id: 0f6c1f8e-8d7a-4c53-9a0e-2b1d5e7c9a41
name: sign_in_outside_vpn
logsource: {product: zendesk, service: audit_log}
detection:
  selection: {action: login}
  vpn: {ip_address|cidr: 10.0.0.0/8}
  condition: selection and not vpn
level: medium
"""


def _write_rule(path: Path, text: str) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _edit(path: Path, line_number: int, old: str, new: str) -> None:
    """Replace `old` by `new` on one line of a file (a seed row made wrong on purpose)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if old not in lines[line_number - 1]:
        raise RuntimeError(f"{path.name}:{line_number} has no {old!r}: {lines[line_number - 1]!r}")
    lines[line_number - 1] = lines[line_number - 1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")


# In order: each step runs in the folder the demo wrote, after the steps before it.
DEMO_STEPS = [
    Step("demo", ["demo"], shown="make demo"),
    Step("models-after-demo", ["models", "build", *DEMO_DB]),
    Step("models-after-demo", ["models", "status", *DEMO_DB]),
    Step("status-after-demo", ["status", "--subdomain", "acme", *DEMO_DB]),
    Step("report-html", ["report", *DEMO_DB, *QUARTER, "--out", "q3-review.html"]),
    # No browser on the PATH: only the interpreter's folder.
    Step("report-no-browser", ["report", *DEMO_DB, *QUARTER, "--out", "q3-review.pdf"], exit_code=2,
         env={"PATH": str(Path(sys.executable).parent), "ZENDESK_AUDIT_BROWSER": None}),
    Step("evidence", ["evidence", *DEMO_DB, *QUARTER, "--out", "evidence-2026-q3"]),
    Step("evidence", ["evidence", "verify", "evidence-2026-q3"], exit_code=1, before=_change_an_exported_file),
    Step("alerts", ["alerts", *DEMO_DB, "--min-severity", "critical", "--from", "2026-10-24", "--to", "2026-11-01"],
         exit_code=3),
    Step("init-seeds", ["models", "init-seeds", "./zendesk-seeds"]),
    Step("bad-seed", ["models", "build", "--seeds-dir", "./zendesk-seeds", *DEMO_DB], exit_code=2,
         before=lambda folder: _edit(folder / "zendesk-seeds" / "business_hours.csv", 3, "tuesday", "funday")),
    Step("bad-rule-field", ["detections", "list", "--detections-dir", "our-rules"], exit_code=2,
         before=lambda folder: _write_rule(folder / "our-rules" / "trigger_deleted.yml", TEAM_RULE.replace(
             "source_type: rule", "event_type: rule"))),
    Step("bad-rule-modifier", ["models", "build", "--detections-dir", "./our-rules", *DEMO_DB], exit_code=2,
         before=lambda folder: (_write_rule(folder / "our-rules" / "trigger_deleted.yml", TEAM_RULE),
                                _write_rule(folder / "our-rules" / "vpn.yml", VPN_RULE))),
]
SHOWN_FOLDER = "/srv/zendesk-audit"


@functools.cache
def demo_outputs() -> dict[str, str]:
    """What `make demo` prints (`zendesk-audit demo` in an empty folder, 20,000 sandbox records),
    then what the commands of DEMO_STEPS print on the file it wrote."""
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name).resolve()
        for step in DEMO_STEPS:
            outputs[step.block] = outputs.get(step.block, "") + _run_step(step, folder, {})
    return outputs


def _demo_block(name: str) -> str:
    return demo_outputs()[name]


def _sandbox_block(name: str) -> str:
    return sandbox_outputs()[name]


def _quoted(args: list[str]) -> list[str]:
    return [f"'{arg}'" if re.search(r"[^\w@%+=:,./-]", arg) else arg for arg in args]


def detections_export_output() -> str:
    """`detections export` for Splunk: every shipped rule as an SPL search (no database needed)."""
    args = ["detections", "export", "--target", "splunk", "--source", "index=zendesk sourcetype=zendesk:audit"]
    with tempfile.TemporaryDirectory() as folder:
        result = _run(args, Path(folder), {})
    if result.returncode != 0:
        raise RuntimeError(f"zendesk-audit detections export exited {result.returncode}: {result.stderr}")
    return f"$ zendesk-audit {' '.join(_quoted(args))}\n{result.stdout}"


ADMIN_CENTER_CSV = """Time,Actor,IP address,Item,Activity type,Activity
2024-01-31 09:15:00 UTC,Ada Okafor,81.2.69.160,Trigger: Notify requester,Updated,Conditions changed
2024-01-31 09:16:12 UTC,Ada Okafor,81.2.69.160,Team member: Omar Haddad,Updated,Role changed from Agent to Administrator
2024-01-31 18:40:03 UTC,José Núñez,85.13.101.184,API token: ci,Created,
"""


def _write_csv(folder: Path) -> None:
    (folder / "audit-log-2024-01.csv").write_text(ADMIN_CENTER_CSV, encoding="utf-8")


def _bad_seed_row(folder: Path) -> None:
    """A copy of the shipped seeds with Tuesday's opening edited to 25:00."""
    shutil.copytree(ROOT / "sql" / "seeds", folder / "seeds")
    _edit(folder / "seeds" / "business_hours.csv", 3, "tuesday,09:00", "tuesday,25:00")


# Records that arrive after the first load: after the sandbox's newest, before now minus the lag.
NEW_RECORDS_AT = datetime(2026, 11, 15, 10, 0, tzinfo=timezone.utc)

# Against a small sandbox with OAuth client credentials, in order, in one folder.
SANDBOX_STEPS = [
    Step("load-json", ["load", "--json"], shown="zendesk-audit load --json     # prints one line; laid out here",
         show_stderr=False),
    Step("import-csv", ["import-csv", "audit-log-2024-01.csv", "--subdomain", "acme"], before=_write_csv),
    Step("export-request", ["export-request", "--subdomain", "acme", "--start", "2024-01-01", "--end", "2024-02-01",
                            "--action", "update"]),
    Step("models-failed", ["load"], shown="MODELS__SEEDS_DIR=seeds zendesk-audit load      # a seed row edited to 25:00",
         exit_code=4, env={"MODELS__SEEDS_DIR": "seeds"}, before=_bad_seed_row),
]


@functools.cache
def sandbox_outputs() -> dict[str, str]:
    """SANDBOX_STEPS against a small sandbox (JSON_SANDBOX); new records arrive before the last load."""
    from zendesk_sandbox import Sandbox

    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as name, Sandbox(**JSON_SANDBOX) as sandbox:
        folder = Path(name).resolve()
        env = {
            "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
            "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
            "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
            "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret,
            # As the README's real-account steps: `read` lets the load read the account's time zone.
            "SOURCES__ZENDESK_AUDIT__CREDENTIALS__SCOPE": "auditlogs:read read",
        }
        for step in SANDBOX_STEPS:
            if step.block == "models-failed":
                sandbox.append(25, created_at=NEW_RECORDS_AT)
            outputs[step.block] = _run_step(step, folder, env)
    outputs["load-json"] = outputs["load-json"].splitlines()[0] + "\n" + layout_json(
        json.loads(outputs["load-json"].split("\n", 1)[1])) + "\n"
    return outputs


def _run_step(step: Step, folder: Path, env: dict[str, str | None]) -> str:
    """One step as a terminal shows it: the command, its output, `echo $?` when it is not 0."""
    if step.before:
        step.before(folder)
    result = _run(step.args, folder, {**env, **step.env})
    if result.returncode != step.exit_code:
        raise RuntimeError(f"zendesk-audit {' '.join(step.args)} exited {result.returncode}, "
                           f"not {step.exit_code}: {result.stderr}")
    output = result.stdout + (result.stderr if step.show_stderr else "")
    shown = f"$ {step.shown or 'zendesk-audit ' + ' '.join(_quoted(step.args))}\n{output}"
    if step.exit_code:
        shown += f"$ echo $?\n{step.exit_code}\n"
    return _shown_paths(shown).replace(str(folder), SHOWN_FOLDER)


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
    **{step.block: functools.partial(_sandbox_block, step.block) for step in SANDBOX_STEPS},
    "detections-export": detections_export_output,
    **{name: functools.partial(_demo_block, name) for name in dict.fromkeys(step.block for step in DEMO_STEPS)},
}


def normalize(text: str) -> str:
    """What changes from run to run and machine to machine, masked: ports, durations, request
    counts (the workers' windows vary), pipeline keys (a hash of the file's path), load ids, memory."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "SHA256", text)
    text = re.sub(r"\b\d+(\.\d+)? s\b", "N s", text)
    text = re.sub(r"\b[\d,]+ (requests|retries|rate-limit waits|pages|rows/s)\b", r"N \1", text)
    text = re.sub(r"_[0-9a-f]{8}\b", "_KEY", text)
    text = re.sub(r'"(seconds|process_seconds|fetch|normalize|load|models|requests|list_requests|pages|peak_rss_mb|retries|'
                  r'rate_limit_waits)": [\d.]+', r'"\1": N', text)
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
