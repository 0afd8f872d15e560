"""HTTP to Zendesk: retries, pacing, cursor pages, and Zendesk's error envelopes mapped to errors.py.

dlt's retrying session is not used because the audit-log API needs what it does not do: honour a
non-integer `Retry-After`, retry a 200 whose body is not JSON, pace on `X-Rate-Limit-Remaining`,
renew an OAuth token once on a 401, and count every retry for the run summary.

Requests go through one urllib3 pool shared by the window workers, not through a `requests`
session: a backfill sends thousands of pages, and `requests` spent twice urllib3's CPU per page
(re-reading proxy settings from the environment, merging session settings, preparing hooks). What
it did that matters here is done once, in `_pool`: proxies and CA bundle from the environment.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import orjson
import urllib3
from dlt.common.runtime import signals

from zendesk_audit.auth import ClientCredentialsAuth, create_auth
from zendesk_audit.credentials import ZendeskCredentials
from zendesk_audit.errors import (
    ApiError,
    AuthenticationError,
    InvalidScopeError,
    PlanError,
    ScopeError,
    SubdomainError,
    UnreachableError,
    ZendeskAuditError,
)
from zendesk_audit.settings import (
    ACCOUNT_SETTINGS_PATH,
    AUDIT_LOGS_PATH,
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_OAUTH_SCOPE,
    DEFAULT_RATE_LIMIT_SHARE,
    MAX_ANSWER_BYTES,
    MAX_ATTEMPTS,
    MAX_WORKERS,
    OAUTH_TOKENS_PATH,
    READ_TIMEOUT_SECONDS,
    USERS_ME_PATH,
)
from zendesk_audit.text_safety import terminal_text

logger = logging.getLogger("zendesk_audit")

Params = Mapping[str, Any]
# Called with every answer before it is judged; may raise to take an answer away from the retry loop.
ResponseHook = Callable[[str, urllib3.BaseHTTPResponse], None]
USER_AGENT = "zendesk-audit (+dlt)"
TIMEOUT = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
FAST_ANSWER_SECONDS = 0.05
PLAN_FIX = "audit logs need the Enterprise plan and an admin, or a custom role with the view_audit_logs permission"
OAUTH_CLIENTS_PAGE = "Admin Center > Apps and integrations > APIs > OAuth clients"
_MISSING_SCOPES = re.compile(r"missing the following required scopes?:\s*(.+)", re.IGNORECASE)
# Whether each account (base URL) answered `count` on an offset page, in this process.
_COUNT_ANSWERED: dict[str, bool] = {}


@dataclass
class RequestStats:
    """What the run cost; read by the progress line and the summary."""

    requests: int = 0
    list_requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    waited_seconds: float = 0.0
    pages: int = 0
    records: int = 0
    # Copies of a record Zendesk sent more than once, left out (see source.audit_logs_resource);
    # of those, the ones staged in a load package for the merge to drop.
    duplicates: int = 0
    duplicates_in_package: int = 0
    # Set by the resource when it stopped at its page limit: the load runs another chunk.
    page_limit_reached: bool = False
    on_change: Callable[[RequestStats], None] | None = field(default=None, repr=False, compare=False)
    # Warnings given in this run: a load builds a source per chunk and must say each only once.
    warned: set[str] = field(default_factory=set, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        """Add to counters; workers fetch windows in threads, so updates take a lock."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def first_warning(self, key: str) -> bool:
        """True the first time this run meets `key`: the caller warns then, and not again."""
        with self._lock:
            if key in self.warned:
                return False
            self.warned.add(key)
            return True

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


# A refused connection on a remote host: a restarting proxy or load balancer comes back within a
# few seconds; more attempts only delay the line that says what to check.
REFUSED_ATTEMPTS = 3


class _Retry(Exception):
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
    ) -> None:
        super().__init__(reason)
        self.reason, self.delay, self.rate_limited = reason, delay, rate_limited
        self.attempts, self.give_up = attempts, give_up


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; Zendesk has sent non-integers, so accept any number.

    Unreadable, NaN or negative values give None (back off as for an edge 429); `inf` and huge
    values are returned as they are, for the caller to refuse against its longest wait.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


class _WaitTooLong(ApiError):
    """The server asked for a wait beyond `max_wait_seconds`: fail now, naming the header."""

    def __init__(self, header: str, seconds: float, limit: float, path: str = "") -> None:
        asked = f"{seconds:,.0f} s" if math.isfinite(seconds) else "forever"
        where = f" at {path}" if path else ""
        super().__init__(
            f"Zendesk's {header} header{where} asks to wait {asked}, more than the {limit:,.0f} s a load waits "
            "(max_wait_seconds): try again later, or raise max_wait_seconds if the wait is real"
        )


def _read_answer(response: urllib3.BaseHTTPResponse, limit: int, path: str) -> bytes:
    """The decoded body, read at most `limit` bytes far, so that a compression bomb costs no memory.

    urllib3 (2.6 and later) inflates only as much as each read asks for.
    """
    try:
        data = response.read(limit + 1, decode_content=True)
    except urllib3.exceptions.HTTPError as exc:  # truncated, reset, or a body that does not decompress
        response.close()
        raise _Retry(f"answer body unreadable: {type(exc).__name__}") from None
    if len(data) > limit:
        response.close()  # the rest is never read: the connection is dropped, not reused
        raise ApiError(
            f"Zendesk's answer at {path} is larger than {limit // (1024 * 1024)} MB once decompressed: "
            "refused unread; check base_url and any proxy in between"
        )
    response.release_conn()
    return data


def _body_summary(content: bytes) -> str:
    """A short, secret-free description of an error body for one-line messages."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("title") or error)[:200]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return f"{first.get('code', '')}: {first.get('title') or first.get('detail') or ''}"[:200]
        parts = [str(body[key]) for key in ("error", "description", "error_description") if body.get(key)]
        return " - ".join(parts)[:200]
    return str(body)[:200]


def _is_name_resolution_failure(exc: BaseException) -> bool:
    text = repr(exc)
    return any(
        marker in text
        for marker in ("NameResolutionError", "Name or service not known", "nodename nor servname", "No address associated")
    )


def _is_connection_refused(exc: BaseException) -> bool:
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


def _address(base_url: str) -> str:
    """`host:port` of a base URL, the port spelt out (443 for https, 80 for http)."""
    split = urlsplit(base_url)
    host = split.hostname or split.netloc
    host = f"[{host}]" if ":" in host else host
    try:
        port = split.port
    except ValueError:
        port = None
    return f"{host}:{port or (443 if split.scheme == 'https' else 80)}"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pool(base_url: str) -> urllib3.PoolManager:
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
    if proxy and not _is_loopback(host) and not proxy_bypass(host):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


class ZendeskClient:
    """One Zendesk account: authenticated, retrying, paced requests and audit-log pages."""

    def __init__(
        self,
        base_url: str,
        credentials: ZendeskCredentials,
        stats: RequestStats | None = None,
        on_response: ResponseHook | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        rate_limit_share: float = DEFAULT_RATE_LIMIT_SHARE,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.address = _address(self.base_url)
        self.stats = stats or RequestStats()
        self._http = _pool(self.base_url)
        self._on_response = on_response
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate_limit_share = rate_limit_share
        self.max_wait_seconds = max_wait_seconds
        self.max_answer_bytes = max_answer_bytes
        self.auth_mode = credentials.auth_mode()
        self.auth = create_auth(credentials, self._fetch_token)
        self._pace_lock = threading.Lock()
        self._next_slot = 0.0  # when the next request may go: requests leave `_gap` seconds apart
        self._gap = 0.0
        self._hold_until = 0.0  # no request from any worker before this (a 429, or the budget spent)
        self._in_flight = 0  # requests sent and not yet answered, by every worker
        self._window_seconds = 0.0  # the longest `ratelimit-reset` seen: the limit's window
        # What sizing the worker pool needs: seconds per answer (smoothed), our requests per second.
        self.latency_seconds = 0.0
        self.budget_per_second: float | None = None

    # -- audit logs ---------------------------------------------------------------------------

    def count_audit_logs(self, params: Params) -> int | None:
        """How many records match (offset mode's `count`); None when Zendesk won't say.

        Zendesk does not promise `count` on this list: once an account's answer came without it, this
        process asks no more (a load runs one client per chunk, each would otherwise spend a request).
        """
        if _COUNT_ANSWERED.get(self.base_url) is False:
            return None
        query = {key: value for key, value in params.items() if not key.startswith("page[") and key != "sort"}
        query.update(page=1, per_page=1)
        self.stats.add(list_requests=1)
        try:
            body = self.request_json("GET", AUDIT_LOGS_PATH, params=query)
        except ApiError as exc:
            if exc.status is not None and exc.status < 500:
                return None
            raise
        count = body.get("count") if isinstance(body, dict) else None
        answered = isinstance(count, int) and not isinstance(count, bool)
        _COUNT_ANSWERED[self.base_url] = answered
        return count if answered else None

    def iter_audit_log_pages(self, params: Params) -> Iterator[list[dict[str, Any]]]:
        """Follow `meta.after_cursor` until `has_more` is false, yielding each page's records."""
        for records, _ in self.iter_audit_log_answers(params):
            yield records

    def iter_audit_log_answers(self, params: Params) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Each page's records and whether Zendesk said more follow (`meta.has_more`).

        A page is yielded only once it is complete and valid; a garbled page (no `audit_logs`,
        `has_more` without a cursor, a cursor seen before) is asked for again, like a 5xx, and
        after the last attempt the run fails before dlt commits anything of it.
        """
        query: dict[str, Any] = dict(params)
        seen_cursors: set[str] = set()

        def check_page(body: Any) -> None:
            if not isinstance(body, dict) or not isinstance(body.get("audit_logs"), list):
                raise _Retry("a page without audit_logs")
            meta = body.get("meta") or {}
            if meta.get("has_more"):
                cursor = meta.get("after_cursor")
                if not cursor:
                    raise _Retry("has_more without an after_cursor")
                if cursor in seen_cursors:
                    raise _Retry("a page cursor seen before")

        while True:
            self.stats.add(list_requests=1)
            body = self.request_json("GET", AUDIT_LOGS_PATH, params=query, check=check_page)
            records = body["audit_logs"]
            self.stats.add(pages=1, records=len(records))
            self.stats.changed()
            meta = body.get("meta") or {}
            has_more = bool(meta.get("has_more"))
            yield records, has_more
            if not has_more:
                return
            seen_cursors.add(meta["after_cursor"])
            query["page[after]"] = meta["after_cursor"]

    def account_settings(self) -> dict[str, Any]:
        return self.request_json("GET", ACCOUNT_SETTINGS_PATH, check=_require_key("settings"))

    # -- requests -----------------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        json_body: Any = None,
        authenticated: bool = True,
        check: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send one API call with bounded retries and return its decoded JSON body.

        `check` may raise `_Retry` for a body that decoded but cannot be used.

        Raises:
            ZendeskAuditError: a user-fixable answer (401, 403, 404 endpoint) or retries exhausted.
        """
        url = self.base_url + path + (f"?{urlencode(params, doseq=True)}" if params else "")
        renewed_after_401 = False
        attempt = 0
        while True:
            attempt += 1
            self._pace()
            # Outside the try: a refusal from /oauth/tokens is final, not a stale token to renew.
            authorization = self.auth.header() if authenticated else None
            try:
                body = self._attempt(method, url, path, json_body, authorization)
                if check is not None:
                    check(body)
                return body
            except _Retry as retry:
                if retry.give_up is not None and attempt >= min(retry.attempts or self.max_attempts, self.max_attempts):
                    raise retry.give_up from None
                if attempt >= self.max_attempts:
                    raise ApiError(
                        f"Zendesk kept failing at {path} ({retry.reason}) after {attempt} attempts: "
                        "try again later; nothing partial was committed"
                    ) from None
                delay = retry.delay if retry.delay is not None else self._backoff(attempt)
                self.stats.add(retries=1)
                if retry.rate_limited:
                    self._hold_all(delay)  # the budget is the account's: every worker backs off
                else:
                    self._wait(delay)
                logger.info("retrying %s %s in %.1fs: %s", method, path, delay, retry.reason)
            except AuthenticationError:
                if renewed_after_401 or not isinstance(self.auth, ClientCredentialsAuth) or not authenticated:
                    raise
                renewed_after_401 = True
                self.auth.invalidate(authorization or "")
                attempt -= 1

    def _attempt(self, method: str, url: str, path: str, json_body: Any, authorization: str | None) -> Any:
        signals.raise_if_signalled()
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        if authorization is not None:
            headers["Authorization"] = authorization
        body = None
        if json_body is not None:
            body, headers["Content-Type"] = orjson.dumps(json_body), "application/json"
        self.stats.add(requests=1)
        with self._pace_lock:
            self._in_flight += 1
        sent = time.monotonic()
        try:
            response = self._http.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=TIMEOUT,
                redirect=False,  # never: a redirect to another origin would carry the credentials there
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out
            if _is_name_resolution_failure(exc):
                raise SubdomainError(
                    f"cannot resolve {self.host}: check the subdomain (the part before .zendesk.com) or base_url"
                ) from None
            if _is_connection_refused(exc):
                raise self._refused() from None
            raise _Retry(f"connection error: {type(exc).__name__}") from None
        finally:
            with self._pace_lock:
                self._in_flight -= 1
        data = _read_answer(response, self.max_answer_bytes, path)
        elapsed = time.monotonic() - sent
        self.latency_seconds = elapsed if not self.latency_seconds else 0.8 * self.latency_seconds + 0.2 * elapsed
        self._note_rate_limit(response.headers)
        if self._on_response is not None:
            self._on_response(path, response)
        status = response.status
        if status == 429:
            delay = parse_retry_after(response.headers.get("Retry-After"))
            if delay is not None and delay > self.max_wait_seconds:
                raise _WaitTooLong("Retry-After", delay, self.max_wait_seconds, path)
            raise _Retry("429 rate limited", delay, rate_limited=True)
        if status >= 500:
            raise _Retry(f"{status} server error")
        if status >= 400:
            raise self._error_for(status, data, path)
        if status >= 300:
            raise ApiError(
                f"Zendesk redirected {path} to {terminal_text(response.headers.get('Location', '?'))}: "
                "check the subdomain or base_url"
            )
        if not data:
            if status == 200:
                raise _Retry("empty 200 body")
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _Retry(f"{status} body is not valid JSON") from None

    def _refused(self) -> BaseException:
        """Connection refused: nothing listens at host:port. On this machine (the sandbox, a tunnel)
        at once: nothing starts listening by waiting, and "try again later" would send the user
        away from a typo in base_url. On a remote host after REFUSED_ATTEMPTS tries."""
        if _is_loopback(urlsplit(self.base_url).hostname or ""):
            return UnreachableError(
                f"nothing listens at {self.address} (connection refused): check base_url, or start the sandbox "
                "(zendesk-audit sandbox) or the tunnel that should answer there"
            )
        return _Retry(
            f"connection refused by {self.address}",
            attempts=REFUSED_ATTEMPTS,
            give_up=UnreachableError(
                f"{self.address} refused the connection {REFUSED_ATTEMPTS} times: nothing listens there; check the "
                "subdomain or base_url, and any proxy or firewall in between"
            ),
        )

    def _error_for(self, status: int, content: bytes, path: str) -> ZendeskAuditError:
        summary = terminal_text(_body_summary(content))  # the server's words, shown inert
        if path == OAUTH_TOKENS_PATH:
            refused = self._token_error(status, content, summary)
            if refused is not None:
                return refused
        if status == 401:
            hint = {
                "api_token": "check email and api_token, and that the token is active",
                "access_token": "the access token is wrong or expired: get a new one or use client credentials",
                "client_credentials": "check client_id and client_secret in Admin Center > OAuth clients",
            }[self.auth_mode]
            return AuthenticationError(f"Zendesk refused the credentials (401 {summary}): {hint}")
        if status == 403:
            match = _MISSING_SCOPES.search(summary)
            if match or "scope" in summary.lower():
                return ScopeError(self._scope_message(match.group(1).strip().rstrip(".") if match else None, path))
            return PlanError(f"Zendesk answered 403 Forbidden: {PLAN_FIX}")
        if status == 404 and b"InvalidEndpoint" in content:
            # Zendesk does not say whether a non-Enterprise account answers the audit-log paths 403 or
            # 404: a 404 from a host that answers as a Zendesk account is the plan, not the subdomain.
            if path.startswith(AUDIT_LOGS_PATH) and self._is_zendesk_account():
                return PlanError(
                    f"Zendesk answered 404 InvalidEndpoint at {path}, but {self.host} is a Zendesk account: {PLAN_FIX}"
                )
            return SubdomainError(
                f"no Zendesk API at {self.host} (404 InvalidEndpoint at {path}): check the subdomain "
                "(the part before .zendesk.com) or base_url"
            )
        return ApiError(f"Zendesk answered {status} at {path}: {summary}", status=status)

    def _token_error(self, status: int, content: bytes, summary: str) -> ZendeskAuditError | None:
        """`/oauth/tokens` refusals (RFC 6749 `error` codes); None leaves the answer to the general rules."""
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            body = None
        code = body.get("error") if isinstance(body, dict) else None
        if status == 401 or code == "invalid_client":
            return AuthenticationError(
                f"Zendesk refused the OAuth client ({status} at {OAUTH_TOKENS_PATH}): check client_id and client_secret"
            )
        if code == "invalid_scope":
            asked = self.auth.scope if isinstance(self.auth, ClientCredentialsAuth) else DEFAULT_OAUTH_SCOPE
            return InvalidScopeError(
                f"Zendesk's OAuth server refused the scope {asked!r} (400 invalid_scope): this OAuth client may not "
                f"ask for it: allow it for the client in {OAUTH_CLIENTS_PAGE}, or set scope to what the client "
                f"allows (a load needs {DEFAULT_OAUTH_SCOPE!r} or 'read')"
            )
        if status in (400, 403):
            return AuthenticationError(
                f"Zendesk refused the OAuth token request ({status} {summary}): check the client and its scope"
            )
        return None

    def _scope_message(self, missing: str | None, path: str) -> str:
        """One line naming the scope Zendesk asked for and how to get a token that carries it."""
        named = repr(missing) if missing else "a scope"
        if missing == "read" and path.startswith(AUDIT_LOGS_PATH) and not path.endswith("/export"):
            named = f"{DEFAULT_OAUTH_SCOPE!r} (or 'read')"  # the narrower scope is enough to read audit logs
        if isinstance(self.auth, ClientCredentialsAuth):
            fix = f"allow {named} for the OAuth client in {OAUTH_CLIENTS_PAGE} and add it to scope (now {self.auth.scope!r})"
        elif self.auth_mode == "access_token":
            fix = f"get an access token whose scope includes {named}, or use client credentials"
        else:
            fix = f"use credentials whose scope includes {named}"
        asked = f"the scope {missing!r}" if missing else "a scope"
        return f"the OAuth token lacks {asked} that Zendesk asks for at {path} (403): {fix}"

    def _is_zendesk_account(self) -> bool:
        """Whether the host answers as a Zendesk account, whatever its plan.

        `/users/me` answers 200 on every account, with the anonymous user when no credentials are
        sent; it is asked once, without credentials, only to choose between two messages.
        """
        self.stats.add(requests=1)
        try:
            response = self._http.request(
                "GET",
                self.base_url + USERS_ME_PATH,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=TIMEOUT,
                redirect=False,
                preload_content=False,
            )
            data = _read_answer(response, self.max_answer_bytes, USERS_ME_PATH)
        except (urllib3.exceptions.HTTPError, _Retry, ApiError):
            return False
        if response.status != 200:
            return False
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False
        return isinstance(body, dict) and isinstance(body.get("user"), dict)

    def _fetch_token(self, grant: dict[str, Any]) -> dict[str, Any]:
        """POST the grant; a refusal comes back from `_error_for` as one line (see `_token_error`)."""
        return self.request_json(
            "POST", OAUTH_TOKENS_PATH, json_body=grant, authenticated=False, check=_require_key("access_token")
        )

    # -- pacing -------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _wait(self, seconds: float) -> None:
        """Sleep, but wake at once on SIGTERM/SIGINT (when the run intercepts them) and stop."""
        if seconds > 0:
            self.stats.add(waited_seconds=seconds)
            self.stats.changed()
            signals.sleep(seconds)
        signals.raise_if_signalled()

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        """Keep to our share of the account's budget, spread evenly over the window.

        Zendesk's limit is per account and shared with every other integration, so the loader
        leaves `(1 - rate_limit_share)` of it alone: requests leave `reset / usable` seconds apart,
        where `usable` is what remains above that reserve, less the requests already on their way
        (the answer does not count them yet) and one of slack; once nothing is usable every worker
        waits for the window to reset. Pacing on what Zendesk reports, rather than on a fixed
        rate, also adapts to what the other integrations are using right now.
        """
        remaining = _header_number(headers, "X-Rate-Limit-Remaining", "ratelimit-remaining")
        limit = _header_number(headers, "X-Rate-Limit", "ratelimit-limit")
        if remaining is None or not limit:
            return
        reset = _header_number(headers, "ratelimit-reset")
        window_left = reset if reset is not None and reset > 0 else 60.0
        with self._pace_lock:
            self._window_seconds = max(self._window_seconds, window_left)
            # One request of slack: answers from concurrent workers arrive out of order.
            usable = remaining - (1.0 - self.rate_limit_share) * limit - self._in_flight - 1
            wait = window_left if usable < 1 else window_left / usable
            if not wait <= self.max_wait_seconds:  # also inf and NaN
                raise _WaitTooLong("ratelimit-reset", wait, self.max_wait_seconds)
            if usable < 1:
                self._hold_until = max(self._hold_until, time.monotonic() + window_left)
            else:
                self._gap = window_left / usable
            self.budget_per_second = self.rate_limit_share * limit / self._window_seconds

    def auto_workers(self, headroom: float = 1.5, ceiling: int = MAX_WORKERS) -> int:
        """Enough requests in flight to use the budget despite latency: budget/s x seconds per answer x headroom.

        The headroom lets the load catch up after a pause (a chunk's commit) within the same
        window; `headroom=1` is what the budget needs, no more. 2,500 requests a minute at 400 ms
        need 17 in flight (25 with the headroom), under `MAX_WORKERS`. Answers that come back in
        under 50 ms (the sandbox, a proxy next door) leave the decoding core as the limit, where
        more workers only hold more records in memory: two per core then.
        """
        if self.budget_per_second is None:
            return min(4, ceiling)
        if self.latency_seconds < FAST_ANSWER_SECONDS:
            ceiling = min(ceiling, 2 * (os.cpu_count() or 1))
        wanted = math.ceil(self.budget_per_second * max(self.latency_seconds, 0.001) * headroom)
        return max(1, min(ceiling, wanted))

    def _hold_all(self, seconds: float) -> None:
        """No request from any worker before `seconds` from now (a 429 holds everyone)."""
        with self._pace_lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def _pace(self) -> None:
        """Take the next slot (`_gap` after the previous one) and wait for it, and for any hold."""
        slot: float | None = None
        waited = False
        while True:
            with self._pace_lock:
                now = time.monotonic()
                if slot is None:
                    slot = max(now, self._next_slot, self._hold_until)
                    self._next_slot = slot + self._gap
                delay = max(slot, self._hold_until) - now  # a hold that came while waiting still counts
            if delay <= 0.001:
                return
            if not waited:
                self.stats.add(rate_limit_waits=1)
                waited = True
            self._wait(delay)


def _require_key(key: str) -> Callable[[Any], None]:
    """A body check: a JSON object holding `key`, else the answer is retried like a 5xx."""

    def check(body: Any) -> None:
        if not isinstance(body, dict) or key not in body:
            raise _Retry(f"an answer without {key}")

    return check


def _header_number(headers: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                return float(value)
            except ValueError:
                continue
    return None
