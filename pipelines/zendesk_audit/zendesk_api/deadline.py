"""Every HTTP call the project makes ends by a deadline, and plain http reaches only this machine.

Read timeouts are per socket read: a server that trickles one byte a second keeps every read
short and is never cut off, in the headers or in the body. So each call runs inside
`guarded_call(seconds)`: a single watchdog thread shuts the call's socket down when the whole
answer has not arrived by then, and the blocked read returns at once with an error the caller
sees as `call.expired`.

The connection classes here (`POOL_CLASSES`, for urllib3 pool managers; `GuardedAdapter`, for
`requests` sessions) attach each call's socket to its deadline, and, for a call marked
`loopback_only` (plain http without a proxy, allowed only to this machine), check the address
the socket actually connected to: a name like `x.localhost` is resolved by DNS, and only a
loopback peer may receive the request. The check is made where the connection is made, so a
DNS answer that changes between the configuration check and the connection changes nothing.
"""
from __future__ import annotations

import heapq
import ipaddress
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from zendesk_audit.errors import ConfigurationError


class GuardedCall:
    """One call's deadline and where it may connect; the watchdog expires it unless finished first."""

    def __init__(self, seconds: float, loopback_only: bool) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.loopback_only = loopback_only
        self.expired = False
        self._finished = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """The socket this call reads from now (a connection made, or taken from the pool)."""
        with self._lock:
            if self._finished or sock is None:
                return
            self._sock = sock
            if self.expired:
                _cut(sock)

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            if self._sock is not None:
                _cut(self._sock)

    def finish(self) -> None:
        """The answer is read: from now on the watchdog leaves the socket alone (it may go back to
        the pool and serve another call). Call before the connection is released."""
        with self._lock:
            self._finished = True
            self._sock = None


def _cut(sock: socket.socket) -> None:
    """Shut the socket down under the reader's feet (the plain socket's shutdown, also for TLS:
    the SSL object is left to the reader, who gets an error or an end of stream at once)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """One daemon thread for every deadline of the process, earliest first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, GuardedCall]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, call: GuardedCall) -> None:
        with self._condition:
            heapq.heappush(self._heap, (call.at, next(self._order), call))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="zendesk-audit-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is call:  # the watchdog sleeps until an earlier deadline otherwise
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                at, _, call = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._condition.wait(delay)
                    continue
                heapq.heappop(self._heap)
            call.expire()  # a finished call ignores it


_WATCHDOG = _Watchdog()
_CURRENT = threading.local()


@contextmanager
def guarded_call(seconds: float, loopback_only: bool = False) -> Iterator[GuardedCall]:
    """Run one HTTP call (request and reading its answer) in this thread within `seconds`."""
    call = GuardedCall(seconds, loopback_only)
    _WATCHDOG.watch(call)
    previous = getattr(_CURRENT, "call", None)
    _CURRENT.call = call
    try:
        yield call
    finally:
        _CURRENT.call = previous
        call.finish()


def current_call() -> GuardedCall | None:
    return getattr(_CURRENT, "call", None)


def check_loopback_peer(sock: socket.socket, host: str) -> None:
    """Refuse a connection of a loopback-only call whose peer is not a loopback address.

    Raises:
        ConfigurationError: the name resolved to another machine; nothing was sent.
    """
    try:
        peer = sock.getpeername()[0]
        loopback = ipaddress.ip_address(str(peer).split("%")[0]).is_loopback
    except (OSError, ValueError):
        peer, loopback = "an unknown address", False
    if not loopback:
        sock.close()
        raise ConfigurationError(
            f"{host} resolved to {peer}, which is not a loopback address: plain http (and no proxy) is only "
            "allowed to this machine, so nothing was sent; use https, or a loopback address such as 127.0.0.1"
        )


class _Guarded:
    """What both connection classes add: the call's socket to its deadline, the loopback check."""

    host: str
    sock: Any

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        call = current_call()
        if call is not None and call.loopback_only:
            check_loopback_peer(sock, self.host)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        call = current_call()
        if call is not None:
            call.attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        call = current_call()
        if call is not None and self.sock is not None:  # a connection from the pool
            call.attach(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


POOL_CLASSES = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


def guard_pools(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """The pool manager (or proxy manager) with connections that honour `guarded_call`."""
    manager.pool_classes_by_scheme = dict(POOL_CLASSES)  # type: ignore[assignment]
    return manager


class GuardedAdapter(HTTPAdapter):
    """A `requests` adapter whose connections honour `guarded_call` (the alerts' webhook)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        guard_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return guard_pools(manager)
