"""Issue 26's table, as a user runs it: every row a whole `zendesk-audit` process, timed by hyperfine.

Each row is the real command in a new process (hyperfine: several runs, median and spread), against
baselines measured in the same run on the same machine: the interpreter alone (`python -c pass`),
the CLI's import (`import zendesk_audit.cli`), and the fetch-only loop (requests, cursor pages, JSON
decoded) on the same sandbox. Peak RSS comes from `/usr/bin/time -f %M` on separate runs (hyperfine
does not measure memory); it is the largest of the process tree's, so for `load` it is the larger of
the loader's process and the models' process it starts (`models/build_process.py`). The machine's
load average is written beside the table: on a shared machine the wall times move with it, so
compare rows with the baselines of the same run.

The models at scale (`--models-records`, default 10,000,000): rows written straight into a DuckDB
file's `audit_logs` by `models_bench.generate` (the sandbox's generator, no HTTP), then a first
`models build` (the models schema dropped before each run), an incremental refresh after a load of
10,000 new records (`models_bench.append_new_records` before each run), and a no-op build, each a
new process on that file.

Writes the section between the markers below in bench/results.md (the rest of the file is
`bench/run.py`'s), and the same table between the same markers in the README. Run:
`.venv/bin/python bench/whole_process.py [--records 50000] [--big 300000] [--runs 5]
[--models-records 10000000]` (`make bench` runs it after `bench/run.py`; hyperfine comes from apt there).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import SandboxProcess, fetch_only  # noqa: E402

from zendesk_audit.settings import DEFAULT_DUCKDB_PATH  # noqa: E402

RESULTS = HERE / "results.md"
README = HERE.parent / "README.md"
BEGIN, END = "<!-- whole-process: begin -->", "<!-- whole-process: end -->"
PYTHON = sys.executable
CLI = f"{PYTHON} -m zendesk_audit"


def environment(base_url: str, folder: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    env.update({
        "DLT_DATA_DIR": str(folder / "dlt"),
        "DO_NOT_TRACK": "1",
        "SOURCES__ZENDESK_AUDIT__BASE_URL": base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": "sandbox-client",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": "sandbox-secret",
    })
    return env


def hyperfine(command: str, env: dict[str, str], folder: Path, runs: int, prepare: str | None = None,
              warmup: int = 0) -> dict[str, float]:
    """Median, min and max wall seconds of `command` (a shell line), and the mean user + system CPU."""
    out = folder / "hyperfine.json"
    args = ["hyperfine", "--style", "none", "--runs", str(runs), "--warmup", str(warmup), "--export-json", str(out)]
    if prepare:
        args += ["--prepare", prepare]
    subprocess.run([*args, command], env=env, cwd=folder, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())["results"][0]
    return {"median": result["median"], "min": result["min"], "max": result["max"],
            "cpu": result["user"] + result["system"]}


def peak_rss(command: str, env: dict[str, str], folder: Path, runs: int, prepare: str | None = None) -> list[float]:
    """Peak RSS (MB) of `command` in `runs` separate runs, `prepare` before each."""
    found = []
    for _ in range(runs):
        if prepare:
            subprocess.run(prepare, shell=True, env=env, cwd=folder, check=True)
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "sh", "-c", command], env=env, cwd=folder,
                              capture_output=True, text=True, check=True)
        found.append(int(done.stderr.strip().splitlines()[-1]) / 1024)
    return found


def timing(figure: dict[str, float]) -> str:
    return (f"{figure['median']:.2f} s median ({figure['min']:.2f}-{figure['max']:.2f}), "
            f"CPU {figure['cpu']:.2f} s")


def verdict(value: float, limit: float, unit: str, at_least: bool = False) -> str:
    """The target and whether this run met it, with the factor when it did not."""
    met = value >= limit if at_least else value <= limit
    sign = ">=" if at_least else "<="
    miss = "" if met else f" ({(limit / value if at_least else value / limit):.1f}x off)"
    return f"target {sign} {limit:g} {unit}: {'met' if met else 'NOT met'}{miss}"


def rss_text(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f} MB" if len(values) > 1 else f"{values[0]:.0f} MB"


def models_at_scale(records: int, folder: Path, runs: int) -> list[tuple[str, str, str]]:
    """The issue's 10,000,000-record rows: a first build, a refresh after 10,000 new records, a no-op."""
    import models_bench

    path = folder / "models.duckdb"
    models_bench.generate(path, records)
    env = environment("", folder)
    cli = f"{CLI} models build --duckdb-path {path} --dataset {models_bench.DATASET}"
    drop_models = (f"{PYTHON} -c \"import duckdb; duckdb.connect('{path}')"
                   f".execute('drop schema if exists {models_bench.MARTS} cascade')\"")
    append = (f"{PYTHON} -c \"import sys; sys.path.insert(0, '{HERE}'); import models_bench; "
              f"models_bench.append_new_records(models_bench.Path('{path}'), 10_000)\"")
    big = records >= 10_000_000
    rows = []
    full = hyperfine(cli, env, folder, 2 if big else max(3, runs // 2), prepare=drop_models)
    rss = peak_rss(cli, env, folder, 1, prepare=drop_models)
    target = verdict(full["median"], 60, "s") if big else "measured"
    rows.append((f"first `models build` of {records:,} records", f"{timing(full)}; peak RSS {rss_text(rss)}", target))
    refresh = hyperfine(cli, env, folder, runs, prepare=append)
    target = verdict(refresh["median"], 3, "s") if big else "measured"
    rows.append((f"`models build` after a load of 10,000 new records on {records:,}", timing(refresh), target))
    noop = hyperfine(cli, env, folder, runs, warmup=1)
    rows.append((f"`models build` when nothing changed, {records:,} records", timing(noop), verdict(noop["median"], 1.5, "s")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--big", type=int, default=300_000, help="the larger load (0: leave those rows out)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models-records", type=int, default=10_000_000,
                        help="records for the models' full build and incremental refresh (0: leave those rows out)")
    parser.add_argument("--rss-sizes", default="100000,1000000",
                        help="record counts whose `load` (models included) peak RSS is measured once each, to show it "
                             "stays flat (empty: leave those rows out)")
    options = parser.parse_args()
    if shutil.which("hyperfine") is None:
        raise SystemExit("hyperfine is missing: apt-get install hyperfine (make bench does)")
    rows: list[tuple[str, str, str]] = []
    load_before = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="zendesk-audit-bench-"))
    runs, slow_runs = options.runs, max(3, options.runs // 2)
    database = f"rm -rf {DEFAULT_DUCKDB_PATH} {DEFAULT_DUCKDB_PATH}.wal dlt"
    drop_models = (f"{PYTHON} -c \"import duckdb; duckdb.connect('{DEFAULT_DUCKDB_PATH}')"
                   ".execute('drop schema if exists zendesk_audit_models cascade')\"")
    try:
        env = environment("", folder)
        rows.append(("baseline: the interpreter alone", timing(hyperfine(f"{PYTHON} -c pass", env, folder, runs)),
                     "`python -c pass`"))
        rows.append(("baseline: the CLI's imports", timing(hyperfine(f"{PYTHON} -c 'import zendesk_audit.cli'", env,
                                                                    folder, runs)), "`import zendesk_audit.cli`"))
        sandbox = SandboxProcess("--records", str(options.records), "--seed", "1")
        try:
            env = environment(sandbox.base_url, folder)
            fetch = fetch_only(sandbox.base_url)
            rows.append((f"baseline: fetch-only loop, {fetch.records:,} records", f"{fetch.seconds:.2f} s wall, CPU "
                         f"{fetch.cpu_seconds:.2f} s", "`bench/throughput.py fetch_only`"))
            full = hyperfine(f"{CLI} load", env, folder, slow_runs, prepare=database)
            rss = peak_rss(f"{CLI} load", env, folder, slow_runs, prepare=database)
            rows.append((f"`load` of {options.records:,} records with the models", f"{timing(full)}; peak RSS "
                         f"{rss_text(rss)}", verdict(full["median"], 4, "s")))
            first = hyperfine(f"{CLI} models build", env, folder, slow_runs, prepare=drop_models)
            rows.append((f"first `models build` of {options.records:,} records", timing(first), "measured"))
            noop = hyperfine(f"{CLI} load", env, folder, runs, warmup=1)
            rows.append(("`load` when nothing is new", timing(noop), verdict(noop["median"], 2.0, "s")))
            build = hyperfine(f"{CLI} models build", env, folder, runs, warmup=1)
            rows.append(("`models build` when nothing changed (dbt skipped)", timing(build), verdict(build["median"], 1.5, "s")))
            forced = hyperfine(f"{CLI} models build --full-refresh", env, folder, slow_runs)
            rows.append((f"`models build --full-refresh` of {options.records:,} records (dbt always runs)",
                         timing(forced), "measured"))
        finally:
            sandbox.stop()
        if options.big:
            sandbox = SandboxProcess("--records", str(options.big), "--seed", "1")
            try:
                env = environment(sandbox.base_url, folder)
                fetch = fetch_only(sandbox.base_url)
                rows.append((f"baseline: fetch-only loop, {fetch.records:,} records",
                             f"{fetch.seconds:.2f} s wall, CPU {fetch.cpu_seconds:.2f} s "
                             f"({fetch.cpu_seconds / fetch.records * 1e6:.1f} µs per record)",
                             "`bench/throughput.py fetch_only`"))
                bare = hyperfine(f"{CLI} load --no-models", env, folder, slow_runs, prepare=database)
                rss = peak_rss(f"{CLI} load --no-models", env, folder, slow_runs, prepare=database)
                rows.append((f"`load --no-models` of {options.big:,} records", f"{timing(bare)}; peak RSS {rss_text(rss)};"
                             f" {fetch.seconds / bare['median']:.2f}x the fetch-only loop's speed, CPU per record "
                             f"{bare['cpu'] / options.big * 1e6:.1f} µs",
                             verdict(fetch.seconds / bare["median"], 0.7, "x", at_least=True)))
                full = hyperfine(f"{CLI} load", env, folder, slow_runs, prepare=database)
                rss = peak_rss(f"{CLI} load", env, folder, slow_runs, prepare=database)
                rows.append((f"`load` of {options.big:,} records with the models", f"{timing(full)}; peak RSS "
                             f"{rss_text(rss)}", "peak RSS " + verdict(max(rss), 400, "MB")))
                first = hyperfine(f"{CLI} models build", env, folder, slow_runs, prepare=drop_models)
                rss = peak_rss(f"{CLI} models build", env, folder, 1, prepare=drop_models)
                rows.append((f"`models build` of {options.big:,} records", f"{timing(first)}; peak RSS {rss_text(rss)}",
                             "measured"))
            finally:
                sandbox.stop()
        for size in [int(text) for text in options.rss_sizes.split(",") if text.strip()]:
            sandbox = SandboxProcess("--records", str(size), "--seed", "1")
            try:
                env = environment(sandbox.base_url, folder)
                rss = peak_rss(f"{CLI} load", env, folder, 1, prepare=database)
                rows.append((f"`load` of {size:,} records with the models: peak RSS (the loader's process and the "
                             "models' process, the larger)", rss_text(rss), verdict(max(rss), 400, "MB") + ", flat"))
            finally:
                sandbox.stop()
        if options.models_records:
            rows += models_at_scale(options.models_records, folder, runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after = os.getloadavg()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = "\n".join(f"| {what} | {figure} | {target} |" for what, figure, target in rows)
    section = (
        f"{BEGIN}\n## Whole processes (issue 26)\n\n"
        f"`bench/whole_process.py`, {when}, {os.cpu_count()} cores; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (wall times move with it: compare with the baselines above them). "
        f"hyperfine, {runs} runs ({slow_runs} for the long rows): median (min-max) wall, mean user + system CPU.\n\n"
        "| what (a whole process) | figure | target |\n|---|---|---|\n"
        f"{table}\n{END}\n"
    )
    write_section(RESULTS, section)
    # The README carries the same table (what a user waits for), under its own heading.
    write_section(README, section.replace("## Whole processes (issue 26)", "## Speed, as you run it"))
    print(section)


def write_section(path: Path, section: str) -> None:
    """`section` between the markers of `path`, or appended when it has none (a new results file starts
    with its heading)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
