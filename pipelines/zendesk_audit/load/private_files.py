"""A load's folder on disk is its owner's alone: folders 0700, files 0600.

dlt writes a pipeline's folder (state, schemas, load packages, and `trace.pickle`, which keeps
each step's exception and resolved settings) with the process's umask: usually 0644 files in
0755 folders, readable by every user of the machine. A failed run's exception can carry more
than it should (an HTTP library puts a whole malformed header, secret included, in its message).

The folder is made 0700 before the load writes anything, so nothing written during the run is
readable by others even for a moment, and every file is made 0600 after it, also after a failed
run, so that a copy made with `cp -p` or a folder opened up later does not expose it. A umask
would do the same without the walk, but it is process-wide: it would also change the database
file DuckDB creates during the load and whatever other threads of an orchestrator write meanwhile.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

FOLDER_MODE = 0o700
GROUP_AND_OTHERS = 0o077


@contextmanager
def owner_only(folder: str) -> Iterator[None]:
    """Keep `folder` and everything under it owner-only before and after the block."""
    os.makedirs(folder, mode=FOLDER_MODE, exist_ok=True)
    restrict(folder)
    try:
        yield
    finally:
        restrict(folder)


def restrict(folder: str) -> None:
    """Take group and others' bits off every folder and file under `folder` (dlt's 0755 and 0644
    become 0700 and 0600); symlinks and what is not ours are left alone."""
    for root, _, files in os.walk(folder):
        _owner_only(root)
        for name in files:
            _owner_only(os.path.join(root, name))


def _owner_only(path: str) -> None:
    try:
        status = os.lstat(path)
        if stat.S_ISLNK(status.st_mode) or not status.st_mode & GROUP_AND_OTHERS:
            return
        os.chmod(path, stat.S_IMODE(status.st_mode) & ~GROUP_AND_OTHERS)
    except (FileNotFoundError, PermissionError):  # removed meanwhile by dlt, or another user's file
        pass
