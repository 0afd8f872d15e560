"""One urllib3 pool per account, shared by the window workers, and what its failures mean.

Not a `requests` session: a backfill sends thousands of pages, and `requests` spent twice
urllib3's CPU per page (re-reading proxy settings from the environment, merging session settings,
preparing hooks). What it did that matters here is done once, in `pool`: proxies and CA bundle
from the environment. Answers are read bounded (a compression bomb costs no memory).
"""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import urllib3

from zendesk_audit.errors import ApiError, UnreachableError, ZendeskAuditError
from zendesk_audit.settings import CONNECT_TIMEOUT_SECONDS, MAX_WORKERS, READ_TIMEOUT_SECONDS
from zendesk_audit.zendesk_api.deadline import GuardedCall, guard_pools

USER_AGENT = "zendesk-audit (+dlt)"
TIMEOUT = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)

# A refused connection on a remote host: a restarting proxy or load balancer comes back within a
# few seconds; more attempts only delay the line that says what to check.
REFUSED_ATTEMPTS = 3
# The same for a failed TLS handshake and a connect that times out: a wrong host or port does not
# heal, and eight attempts with backoff took 47 s before a line that named only "SSLError".
HANDSHAKE_ATTEMPTS = 3
CONNECT_TIMEOUT_ATTEMPTS = 3


class Retry(Exception):
    """A transient failure: wait `delay` (None: exponential backoff) and try again.

    `attempts` caps the tries for this kind of failure below the client's `max_attempts`, and
    `give_up` is then raised instead of the generic "kept failing" line.
    """

    def __init__(
        self,
        reason: str,
        delay: float | None = None,
        rate_limited: bool = False,
        attempts: int | None = None,
        give_up: ZendeskAuditError | None = None,
        announce: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason, self.delay, self.rate_limited = reason, delay, rate_limited
        self.attempts, self.give_up = attempts, give_up
        # A connection that fails is said on stderr at each retry, not only with --verbose: the
        # user waits, and should know for what.
        self.announce = announce


# An answer that did not arrive whole by its deadline is asked for this many times in all.
SLOW_ATTEMPTS = 3


def too_slow(path: str, seconds: float) -> Retry:
    """A call cut off at its deadline (`deadline.guarded_call`): retried, then one line."""
    return Retry(
        f"no whole answer within {seconds:g} s",
        attempts=SLOW_ATTEMPTS,
        give_up=ApiError(
            f"Zendesk's answer at {path} did not arrive whole within {seconds:g} s, {SLOW_ATTEMPTS} times "
            "(max_answer_seconds): the connection, or a proxy in between, is too slow; nothing partial was "
            "committed; try again later, or raise max_answer_seconds"
        ),
    )


def read_answer(response: urllib3.BaseHTTPResponse, limit: int, path: str, call: GuardedCall | None = None) -> bytes:
    """The decoded body, read at most `limit` bytes far, so that a compression bomb costs no memory,
    and whole before `call`'s deadline (then finished, before the connection goes back to the pool).

    urllib3 (2.6 and later) inflates only as much as each read asks for.
    """
    try:
        data = response.read(limit + 1, decode_content=True)
    except urllib3.exceptions.HTTPError as exc:  # truncated, reset, or a body that does not decompress
        response.close()
        if call is not None and call.expired:
            raise too_slow(path, call.seconds) from None
        raise Retry(f"answer body unreadable: {type(exc).__name__}") from None
    if call is not None:
        call.finish()
        if call.expired:  # cut off: what was read may look whole (an answer without a length)
            response.close()
            raise too_slow(path, call.seconds)
    if len(data) > limit:
        response.close()  # the rest is never read: the connection is dropped, not reused
        raise ApiError(
            f"Zendesk's answer at {path} is larger than {limit // (1024 * 1024)} MB once decompressed: "
            "refused unread; check base_url and any proxy in between"
        )
    response.release_conn()
    return data


_SSL_REASON = re.compile(r"\[SSL: ([A-Z0-9_]+)\]|\[SSL\] ([^(]+?) \(|(record layer failure|wrong version number|"
                         r"unexpected eof[^(]*|certificate verify failed[^(]*)", re.IGNORECASE)


# OpenSSL's words for an answer that is not TLS at all (a plain-http server on the port).
_SSL_MEANING = {
    name: f"{name}: the answer is not TLS, plain http on this port?"
    for name in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG")
}


def _chain(exc: BaseException) -> list[BaseException]:
    found, current = [], exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def connection_retry(exc: urllib3.exceptions.HTTPError, address: str) -> Retry:
    """A connection that failed before an answer, as a retry whose reason names the cause: the TLS
    handshake (and why), a connect that timed out, a reset, or another connection error.

    A certificate that is not trusted is not retried: it will not be trusted in a second.
    """
    chain = _chain(exc)
    if any(isinstance(item, (urllib3.exceptions.SSLError, ssl.SSLError)) for item in chain):
        text = " ".join(str(item) for item in chain)
        match = _SSL_REASON.search(text)
        detail = next((group for group in match.groups() if group), "").strip() if match else "no TLS answer"
        detail = _SSL_MEANING.get(detail.upper().replace(" ", "_"), detail)
        if "CERTIFICATE_VERIFY_FAILED" in text.upper() or "certificate verify failed" in text:
            return Retry(
                f"the TLS certificate of {address} is not trusted", attempts=1, announce=True,
                give_up=UnreachableError(
                    f"the TLS certificate of {address} is not trusted ({detail}): check base_url; behind a proxy "
                    "that inspects TLS, set REQUESTS_CA_BUNDLE to its CA file"
                ),
            )
        return Retry(
            f"TLS handshake with {address} failed ({detail})", attempts=HANDSHAKE_ATTEMPTS, announce=True,
            give_up=UnreachableError(
                f"TLS handshake with {address} failed {HANDSHAKE_ATTEMPTS} times ({detail}): what answers there "
                "does not speak HTTPS; check base_url (https:// or http://, the port) and any proxy in between"
            ),
        )
    if any(isinstance(item, urllib3.exceptions.ConnectTimeoutError) for item in chain):
        return Retry(
            f"connecting to {address} timed out after {CONNECT_TIMEOUT_SECONDS:g} s",
            attempts=CONNECT_TIMEOUT_ATTEMPTS, announce=True,
            give_up=UnreachableError(
                f"connecting to {address} timed out {CONNECT_TIMEOUT_ATTEMPTS} times ({CONNECT_TIMEOUT_SECONDS:g} s "
                "each): nothing answers there; check the subdomain or base_url, and any proxy or firewall in between"
            ),
        )
    if any(isinstance(item, urllib3.exceptions.ReadTimeoutError) for item in chain):
        return Retry(f"no answer from {address} within {READ_TIMEOUT_SECONDS:g} s", announce=True)
    if any(isinstance(item, urllib3.exceptions.ProtocolError) for item in chain):
        return Retry(f"the connection to {address} broke ({type(exc).__name__})", announce=True)
    return Retry(f"connection error with {address}: {type(exc).__name__}", announce=True)


def is_name_resolution_failure(exc: BaseException) -> bool:
    text = repr(exc)
    return any(
        marker in text
        for marker in ("NameResolutionError", "Name or service not known", "nodename nor servname", "No address associated")
    )


def is_connection_refused(exc: BaseException) -> bool:
    """The host answered that nothing listens on the port (not a timeout, not a reset)."""
    if isinstance(exc, urllib3.exceptions.ProxyError):
        return False  # the proxy's refusal, not Zendesk's: the generic retry line names the path
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        current = current.__cause__ or current.__context__
    return "Connection refused" in str(exc)


def address(base_url: str) -> str:
    """`host:port` of a base URL, the port spelt out (443 for https, 80 for http)."""
    split = urlsplit(base_url)
    host = split.hostname or split.netloc
    host = f"[{host}]" if ":" in host else host
    try:
        port = split.port
    except ValueError:
        port = None
    return f"{host}:{port or (443 if split.scheme == 'https' else 80)}"


def is_loopback(host: str, resolve: bool = True) -> bool:
    """Whether `host` is this machine: `localhost`, a literal loopback address, or (`resolve`) a
    name that resolves to loopback addresses only (`x.localhost` is a name like any other: DNS
    answers it, and it is loopback only if every address DNS gives is).

    This decides plain http and no proxy; the address each connection reaches is checked again
    where it is made (`deadline.check_loopback_peer`).
    """
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        pass
    if not resolve or not host:
        return False
    try:
        answers = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {answer[4][0] for answer in answers}
    try:
        return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)
    except ValueError:
        return False


def pool(base_url: str) -> urllib3.PoolManager:
    """Keep-alive connections for every worker, through the proxy the environment names (as
    `requests` would: HTTPS_PROXY, HTTP_PROXY, NO_PROXY) and with its CA bundle
    (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's).

    A loopback base URL (the sandbox, a local tunnel) never goes through a proxy, whatever NO_PROXY
    says: the proxy would be handed the credentials of a request that was meant never to leave
    the machine.
    """
    import certifi

    split = urlsplit(base_url)
    host = split.hostname or ""
    ca_certs = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    options: dict[str, Any] = {"maxsize": MAX_WORKERS, "retries": False, "ca_certs": ca_certs}
    proxy = getproxies().get(split.scheme)
    # Plain http skips the proxy only for this machine (the connection checks its peer again);
    # an https name is not looked up here: the proxy, if any, resolves it.
    if proxy and not is_loopback(host, resolve=split.scheme == "http") and not proxy_bypass(host):
        return guard_pools(urllib3.ProxyManager(proxy, **options))
    return guard_pools(urllib3.PoolManager(**options))
