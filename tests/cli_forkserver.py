"""`python -m zendesk_audit ARGS` (and `python -m dlt ARGS`) as a child forked from a process that has
already imported the CLI.

Why: the suite runs about two hundred short CLI processes. py-spy over tests/test_cli.py,
test_alerts.py and test_time_zones.py showed 70% of a `zendesk-audit load` process's CPU in its
imports, two thirds of them dlt's. A child forked from a process that stopped right after
`__main__.py`'s first line (`from zendesk_audit.cli import main`) starts where that import ended,
and runs the second (`main()`): a `load` that stops at its configuration took 1.4 s as its own
process and 0.7 s forked, on 2026-12-07's slow machine.

It is still a process of its own, as `subprocess.run` gives one: its own argv, environment, working
folder and standard streams (pipes this side reads, /dev/null for stdin), its exit status (a signal
as a negative code), and the interpreter's normal exit (atexit handlers, flushed streams, a
traceback printed for an uncaught exception). What it does not run again is the interpreter's start
and that import: the tests that start the command itself keep those proved (test_package's
installed wheel, the kill and signal tests of test_reliability and test_load_path, the races of
test_races, docs/generate.py's outputs, and every `run_cli` with a `preexec_fn`).

The server is forked from only while it has a single thread (checked before each fork).
"""
from __future__ import annotations

import atexit
import json
import locale
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

_HEADER = struct.Struct("!I")


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        more = connection.recv(1 << 16)
        if not more:
            raise EOFError("the request was cut off")
        data += more
    size = _HEADER.unpack_from(data)[0]
    return json.loads(data[_HEADER.size:_HEADER.size + size]), fds


def _become(request: dict, fds: list[int]) -> None:
    """In the forked child: take the request's streams, folder, environment and argv, then run what
    `python -m MODULE` runs after its import. Never returns: the interpreter exits as usual."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.path[0] = os.getcwd()  # as `-m` puts it
    sys.argv = ["-m", *request["args"]]  # runpy puts __main__.py's path first, as `-m` does
    import runpy

    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def serve(path: str) -> None:
    """The server: import the CLI, then fork one child per request and report its pid and exit status."""
    import zendesk_audit.cli  # noqa: F401 - the import every child would otherwise repeat

    # pySigma, which a load's early rule check imports while the rules' stamp is missing (every test
    # has a data folder of its own). Not pyarrow or duckdb: each starts a thread at import.
    import zendesk_audit.models.detection_sql  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            try:
                request, fds = _receive(connection)
            except (EOFError, ValueError, OSError):
                continue
            threads = len(os.listdir("/proc/self/task"))
            if threads != 1:
                connection.sendall(json.dumps({"error": f"the server has {threads} threads"}).encode() + b"\n")
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                connection.close()
                _become(request, fds)
            for fd in fds:
                os.close(fd)
            connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            _, status = os.waitpid(pid, 0)
            try:
                connection.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            except OSError:
                pass  # the test side gave up (a timeout): nothing to report to


class ForkServer:
    """One server per test process, started on first use and stopped at its exit."""

    _lock = threading.Lock()
    _instance: ForkServer | None = None

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="zendesk-audit-forkserver-")
        self.path = str(Path(self.folder) / "socket")
        self.process = subprocess.Popen([sys.executable, __file__, self.path], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the CLI fork server did not start: {line!r}")
        atexit.register(self.stop)

    @classmethod
    def shared(cls) -> ForkServer:
        with cls._lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        Path(self.path).unlink(missing_ok=True)
        os.rmdir(self.folder)

    def run(self, args: list[str], cwd: Path, env: dict[str, str], timeout: float,
            module: str = "zendesk_audit") -> subprocess.CompletedProcess[str]:
        """`subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
        stdin=DEVNULL, ...)`, forked from the server."""
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        command = [sys.executable, "-m", module, *args]
        payload = json.dumps({"module": module, "args": args, "cwd": str(cwd), "env": env}).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(self.path)
            try:
                socket.send_fds(connection, [_HEADER.pack(len(payload)) + payload], [stdin, out_write, err_write])
            finally:
                for fd in (stdin, out_write, err_write):
                    os.close(fd)
            replies = connection.makefile("rb")
            started = json.loads(replies.readline() or b'{"error": "the server closed the connection"}')
            if "pid" not in started:
                os.close(out_read)
                os.close(err_read)
                raise RuntimeError(f"the CLI fork server refused: {started['error']}")
            stdout, stderr = self._read(started["pid"], out_read, err_read, command, timeout)
            ended = json.loads(replies.readline())
        encoding = locale.getpreferredencoding(False)

        def text(data: bytes) -> str:
            return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")

        return subprocess.CompletedProcess(command, ended["returncode"], text(stdout), text(stderr))

    @staticmethod
    def _read(pid: int, out_read: int, err_read: int, command: list[str], timeout: float) -> tuple[bytes, bytes]:
        """Both streams to their end (every writer closed them), as `communicate` reads them."""
        chunks: dict[int, list[bytes]] = {out_read: [], err_read: []}
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for fd in chunks:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    os.kill(pid, signal.SIGKILL)
                    for fd in list(selector.get_map()):  # the streams not closed yet
                        os.close(fd)
                    raise subprocess.TimeoutExpired(command, timeout)
                for key, _ in selector.select(remaining):
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
                        os.close(key.fd)
        return b"".join(chunks[out_read]), b"".join(chunks[err_read])


def run_module(args: list[str], cwd: Path, env: dict[str, str], timeout: float, module: str = "zendesk_audit",
               preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` to its end with its output captured: forked from the shared server, or
    started itself with a `preexec_fn` (it runs in the test's own child) or with
    ZENDESK_AUDIT_TEST_FORK=0 (to compare the two)."""
    if preexec_fn is not None or os.environ.get("ZENDESK_AUDIT_TEST_FORK") == "0":
        return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
    return ForkServer.shared().run(args, cwd, env, timeout, module)


if __name__ == "__main__":
    serve(sys.argv[1])
