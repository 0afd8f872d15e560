"""`zendesk-audit ARGS` that stops once inside dlt's load step until the test lets it go.

Races between two runs are rare when left to chance (issue 13 saw one in 6 tries of 200,000
records); holding one run at the moment that matters makes them happen every time:

- `PAUSE_AT=init`: the package's tables are set up and the dataset's staging table truncated;
  nothing copied yet. A second run that loads now and finishes leaves its rows in staging, and
  this run's merge then inserts both copies.
- `PAUSE_AT=merge`: this run's rows are in staging, its merge into `audit_logs` has not run. A
  second run that truncates staging now leaves this run with nothing to merge, yet its cursor moves.

dlt holds no database connection at either point. The run touches `PAUSE_MARKER` when it stops
and goes on once `PAUSE_GO` exists (or after 120 s). Nothing of dlt is replaced: the hook only
waits, then calls dlt's own method.

Run: `PAUSE_AT=init PAUSE_MARKER=... PAUSE_GO=... python tests/paused_run.py load --duckdb-path x.duckdb`
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

from dlt.load.load import Load


def _pause_once(original: Any) -> Any:
    at, marker, go = os.environ["PAUSE_AT"], os.environ["PAUSE_MARKER"], os.environ["PAUSE_GO"]
    paused: list[bool] = []

    def start_new_jobs(self: Load, load_id: str, schema: Any, running_jobs: Any) -> Any:
        new_jobs = [os.path.basename(path) for path in self.load_storage.list_new_jobs(load_id)]
        merge_next = any(name.startswith("audit_logs.") and name.endswith(".sql") for name in new_jobs)
        if not paused and (at == "init" or merge_next):
            paused.append(True)
            open(marker, "w").close()  # noqa: SIM115 - an empty marker file
            deadline = time.monotonic() + 120
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.05)
        return original(self, load_id, schema, running_jobs)

    return start_new_jobs


if __name__ == "__main__":
    Load.start_new_jobs = _pause_once(Load.start_new_jobs)  # type: ignore[method-assign]
    from zendesk_audit.cli.commands import main

    main(sys.argv[1:])
