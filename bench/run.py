"""`make bench`: every benchmark, measured in this run, printed and written to bench/results.md."""
from __future__ import annotations

import contextlib
import io
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sandbox_throughput  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results.md"


def machine() -> str:
    cores = len(__import__("os").sched_getaffinity(0))
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}"


def main() -> None:
    sections = [
        f"# Benchmarks\n\nRun {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()} with `make bench`.\n",
    ]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        sandbox_throughput.main(["--records", "1000000", "--seconds", "5"])
    sections.append(
        "## Sandbox\n\n`python bench/sandbox_throughput.py --records 1000000 --seconds 5`: one lean keep-alive "
        "`http.client` walking cursor pages (client in the same process as the server, so pessimistic).\n\n"
        + buffer.getvalue()
    )
    report = "\n".join(sections)
    print(report)
    RESULTS.write_text(report)


if __name__ == "__main__":
    main()
