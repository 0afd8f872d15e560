"""A scriptable HTTP server on loopback for the hostile-answer tests: real sockets, any answer.

The sandbox answers like Zendesk; this one answers like a broken proxy or an attacker would
(compression bombs, absurd waits, redirects elsewhere), which the sandbox must never do.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Bytes, or chunks streamed one after another (so a bomb never sits whole in the server either).
    body: bytes | Iterable[bytes] = b""
    # Seconds between two bytes of the whole answer, status line and headers included (0: at once).
    trickle: float = 0.0


@dataclass
class Seen:
    """What one request carried, for the assertions about where credentials went."""

    method: str
    path: str
    headers: dict[str, str]


class HostileServer:
    """Answers every request with `answer(request)`; records every request it got."""

    def __init__(self, answer: Callable[[Seen], Answer], bind: str = "127.0.0.1") -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen = Seen(self.command, self.path, dict(self.headers.items()))
                outer.seen.append(seen)
                reply = outer.answer(seen)
                if reply.trickle:
                    self._trickle(reply)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if isinstance(reply.body, bytes):
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in reply.body:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client hung up: exactly what a bounded reader does
                    self.close_connection = True

            def _trickle(self, reply: Answer) -> None:
                """The whole answer one byte at a time, until the client hangs up."""
                assert isinstance(reply.body, bytes)
                head = f"HTTP/1.1 {reply.status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                raw = f"{head}Content-Length: {len(reply.body)}\r\n\r\n".encode() + reply.body
                self.close_connection = True
                try:
                    for index in range(len(raw)):
                        self.wfile.write(raw[index : index + 1])
                        self.wfile.flush()
                        time.sleep(reply.trickle)
                except OSError:
                    pass

            do_GET = do_POST = do_CONNECT = _serve

        self._server = ThreadingHTTPServer((bind, 0), Handler)
        self.port = self._server.server_address[1]
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def hostile_server(answer: Callable[[Seen], Answer], bind: str = "127.0.0.1") -> Iterator[HostileServer]:
    """The server on loopback; `bind="0.0.0.0"` also on this machine's other addresses (a test
    that needs a peer that is not loopback)."""
    with HostileServer(answer, bind) as server:
        yield server
