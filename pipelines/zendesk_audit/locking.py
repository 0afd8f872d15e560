"""One load at a time per database: a second concurrent run waits or fails with a clear line.

The lock is a file in the pipeline's state folder (which is keyed by destination and dataset), so
it covers the common case of two scheduled runs overlapping on one machine. DuckDB itself also
refuses a second writer process; this lock makes that a clear message before any request is sent.
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from zendesk_audit.errors import ZendeskAuditError


class LoadInProgress(ZendeskAuditError):
    """Another load into the same database and dataset holds the lock."""


@contextmanager
def load_lock(folder: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the folder's load lock for the block, waiting up to `wait_seconds` for it.

    Raises:
        LoadInProgress: the lock is still held by another process after the wait.
    """
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "load.lock")
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise LoadInProgress(
                        f"another load into this database is running ({holder}): it will load the new "
                        "records; run again later, or pass --wait-for-lock SECONDS"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}")
        handle.flush()
        yield
    finally:
        handle.close()
