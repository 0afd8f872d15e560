"""One Zendesk account's API: authenticated, retrying, paced requests, and the audit-log pages.

The client sends each request through the account's pool (`transport`), in the slot the pacer
gives it (`pacing`), with the credentials' header (`auth`), retries what is transient, and turns
an error answer into the user's one line (`api_errors`).

dlt's retrying session is not used because the audit-log API needs what it does not do: honour a
non-integer `Retry-After`, retry a 200 whose body is not JSON, pace on `X-Rate-Limit-Remaining`,
renew an OAuth token once on a 401, and count every retry for the run summary.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import urllib3
from dlt.common.runtime import signals

from zendesk_audit.errors import (
    ApiError,
    AuthenticationError,
    SubdomainError,
    UnreachableError,
)
from zendesk_audit.settings import (
    ACCOUNT_SETTINGS_PATH,
    AUDIT_LOGS_PATH,
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    DEFAULT_MAX_ANSWER_SECONDS,
    DEFAULT_MAX_IDLE_PAGES,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_RATE_LIMIT_SHARE,
    MAX_ANSWER_BYTES,
    MAX_ATTEMPTS,
    MAX_WORKERS,
    OAUTH_TOKENS_PATH,
    USERS_ME_PATH,
)
from zendesk_audit.text_safety import terminal_text
from zendesk_audit.zendesk_api.api_errors import error_for
from zendesk_audit.zendesk_api.auth import ClientCredentialsAuth, create_auth
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials
from zendesk_audit.zendesk_api.deadline import GuardedCall, guarded_call
from zendesk_audit.zendesk_api.decoding import UndecodableAnswer, decode_answer, is_unicode
from zendesk_audit.zendesk_api.pacing import Pacer
from zendesk_audit.zendesk_api.progress import PageProgress
from zendesk_audit.zendesk_api.stats import RequestStats
from zendesk_audit.zendesk_api.transport import (
    REFUSED_ATTEMPTS,
    TIMEOUT,
    USER_AGENT,
    Retry,
    address,
    connection_retry,
    is_connection_refused,
    is_loopback,
    is_name_resolution_failure,
    pool,
    read_answer,
    too_slow,
)

logger = logging.getLogger("zendesk_audit")

Params = Mapping[str, Any]
# Called with every answer before it is judged; may raise to take an answer away from the retry loop.
ResponseHook = Callable[[str, urllib3.BaseHTTPResponse], None]
# Whether each account (base URL) answered `count` on an offset page, in this process.
_COUNT_ANSWERED: dict[str, bool] = {}


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
        max_answer_seconds: float = DEFAULT_MAX_ANSWER_SECONDS,
        max_idle_pages: int = DEFAULT_MAX_IDLE_PAGES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.address = address(self.base_url)
        self.stats = stats or RequestStats()
        self._http = pool(self.base_url)
        # Plain http is allowed only to this machine: every connection's peer must be loopback.
        self._loopback_only = urlsplit(self.base_url).scheme == "http"
        self._on_response = on_response
        self.max_attempts = max_attempts
        self.max_answer_bytes = max_answer_bytes
        self.max_answer_seconds = max_answer_seconds
        self.max_idle_pages = max_idle_pages
        self.auth_mode = credentials.auth_mode()
        self.auth = create_auth(credentials, self._fetch_token)
        self.pacer = Pacer(self.stats, rate_limit_share, max_wait_seconds, backoff_base, backoff_max)

    # -- what sizing the worker pool reads (and tests set) ---------------------------------------

    @property
    def latency_seconds(self) -> float:
        return self.pacer.latency_seconds

    @latency_seconds.setter
    def latency_seconds(self, value: float) -> None:
        self.pacer.latency_seconds = value

    @property
    def budget_per_second(self) -> float | None:
        return self.pacer.budget_per_second

    @budget_per_second.setter
    def budget_per_second(self, value: float | None) -> None:
        self.pacer.budget_per_second = value

    def auto_workers(self, headroom: float = 1.5, ceiling: int = MAX_WORKERS) -> int:
        """How many windows to fetch at once (`Pacer.auto_workers`)."""
        return self.pacer.auto_workers(headroom, ceiling)

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
            body = self.request_json("GET", AUDIT_LOGS_PATH, params=query, tolerant=True)
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
        progress = PageProgress()
        idle_pages = 0

        def check_page(body: Any) -> None:
            if not isinstance(body, dict) or not isinstance(body.get("audit_logs"), list):
                raise Retry("a page without audit_logs")
            meta = body.get("meta") or {}
            if meta.get("has_more"):
                cursor = meta.get("after_cursor")
                if not cursor:
                    raise Retry("has_more without an after_cursor")
                if cursor in seen_cursors:
                    raise Retry("a page cursor seen before")
                if isinstance(cursor, str) and not is_unicode(cursor):
                    raise Retry("an after_cursor that is not valid Unicode")

        while True:
            self.stats.add(list_requests=1)
            body = self.request_json("GET", AUDIT_LOGS_PATH, params=query, check=check_page, tolerant=True)
            records = body["audit_logs"]
            self.stats.add(pages=1, records=len(records))
            self.stats.changed()
            meta = body.get("meta") or {}
            has_more = bool(meta.get("has_more"))
            idle_pages = 0 if progress.advanced(records) else idle_pages + 1
            if has_more and idle_pages >= self.max_idle_pages:
                raise ApiError(
                    f"Zendesk answered {idle_pages} pages in a row at {AUDIT_LOGS_PATH} that brought no new record "
                    f"(nothing after {terminal_text(progress.newest or 'the start')}) while saying more follow: its "
                    "pagination is stuck; nothing partial was committed; check base_url and any proxy, try again "
                    "later, or raise max_idle_pages"
                )
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
        tolerant: bool = False,
    ) -> Any:
        """Send one API call with bounded retries and return its decoded JSON body.

        `check` may raise `transport.Retry` for a body that decoded but cannot be used.
        `tolerant`: text that is not valid Unicode is decoded as lone surrogates rather than
        refusing the answer (`decoding.decode_answer`); for audit-log pages, whose records are checked.

        Raises:
            ZendeskAuditError: a user-fixable answer (401, 403, 404 endpoint) or retries exhausted.
        """
        url = self.base_url + path + (f"?{urlencode(params, doseq=True)}" if params else "")
        renewed_after_401 = False
        attempt = 0
        while True:
            attempt += 1
            self.pacer.pace()
            # Outside the try: a refusal from /oauth/tokens is final, not a stale token to renew.
            authorization = self.auth.header() if authenticated else None
            try:
                body = self._attempt(method, url, path, json_body, authorization, tolerant)
                if check is not None:
                    check(body)
                return body
            except Retry as retry:
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
                    self.pacer.hold_all(delay)  # the budget is the account's: every worker backs off
                else:
                    self.pacer.wait(delay)
                if retry.announce:
                    limit = min(retry.attempts or self.max_attempts, self.max_attempts)
                    logger.warning("%s; retrying %s in %.1f s (attempt %d of %d)", retry.reason, path, delay,
                                   attempt + 1, limit)
                else:
                    logger.info("retrying %s %s in %.1fs: %s", method, path, delay, retry.reason)
            except AuthenticationError:
                if renewed_after_401 or not isinstance(self.auth, ClientCredentialsAuth) or not authenticated:
                    raise
                renewed_after_401 = True
                self.auth.invalidate(authorization or "")
                attempt -= 1

    def _attempt(
        self, method: str, url: str, path: str, json_body: Any, authorization: str | None, tolerant: bool = False
    ) -> Any:
        """One request and its whole answer within `max_answer_seconds` (`deadline.guarded_call`)."""
        with guarded_call(self.max_answer_seconds, self._loopback_only) as call:
            return self._attempt_within(call, method, url, path, json_body, authorization, tolerant)

    def _attempt_within(
        self, call: GuardedCall, method: str, url: str, path: str, json_body: Any, authorization: str | None,
        tolerant: bool,
    ) -> Any:
        signals.raise_if_signalled()
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        if authorization is not None:
            headers["Authorization"] = authorization
        body = None
        if json_body is not None:
            body, headers["Content-Type"] = orjson.dumps(json_body), "application/json"
        self.stats.add(requests=1)
        sent = time.monotonic()
        try:
            with self.pacer.in_flight():
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
            if call.expired:
                raise too_slow(path, call.seconds) from None
            if is_name_resolution_failure(exc):
                raise SubdomainError(
                    f"cannot resolve {self.host}: check the subdomain (the part before .zendesk.com) or base_url"
                ) from None
            if is_connection_refused(exc):
                raise self._refused() from None
            raise connection_retry(exc, self.address) from None
        data = read_answer(response, self.max_answer_bytes, path, call)
        self.pacer.note_latency(time.monotonic() - sent)
        self._note_rate_limit(response.headers)
        if self._on_response is not None:
            self._on_response(path, response)
        status = response.status
        if status == 429:
            raise Retry("429 rate limited", self.pacer.retry_after(response.headers.get("Retry-After"), path),
                        rate_limited=True)
        if status >= 500:
            raise Retry(f"{status} server error")
        if status >= 400:
            raise error_for(status, data, path, self.auth, self.auth_mode, self.host, self._is_zendesk_account)
        if status >= 300:
            raise ApiError(
                f"Zendesk redirected {path} to {terminal_text(response.headers.get('Location', '?'))}: "
                "check the subdomain or base_url"
            )
        if not data:
            if status == 200:
                raise Retry("empty 200 body")
            return None
        try:
            return decode_answer(data, tolerant)
        except UndecodableAnswer:
            raise Retry(f"{status} body is not valid JSON") from None

    def _refused(self) -> BaseException:
        """Connection refused: nothing listens at host:port. On this machine (the sandbox, a tunnel)
        at once: nothing starts listening by waiting, and "try again later" would send the user
        away from a typo in base_url. On a remote host after REFUSED_ATTEMPTS tries."""
        if is_loopback(urlsplit(self.base_url).hostname or ""):
            return UnreachableError(
                f"nothing listens at {self.address} (connection refused): check base_url, or start the sandbox "
                "(zendesk-audit sandbox) or the tunnel that should answer there"
            )
        return Retry(
            f"connection refused by {self.address}",
            attempts=REFUSED_ATTEMPTS,
            give_up=UnreachableError(
                f"{self.address} refused the connection {REFUSED_ATTEMPTS} times: nothing listens there; check the "
                "subdomain or base_url, and any proxy or firewall in between"
            ),
        )

    def _is_zendesk_account(self) -> bool:
        """Whether the host answers as a Zendesk account, whatever its plan.

        `/users/me` answers 200 on every account, with the anonymous user when no credentials are
        sent; it is asked once, without credentials, only to choose between two messages.
        """
        self.stats.add(requests=1)
        try:
            with guarded_call(self.max_answer_seconds, self._loopback_only) as call:
                response = self._http.request(
                    "GET",
                    self.base_url + USERS_ME_PATH,
                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                    timeout=TIMEOUT,
                    redirect=False,
                    preload_content=False,
                )
                data = read_answer(response, self.max_answer_bytes, USERS_ME_PATH, call)
        except (urllib3.exceptions.HTTPError, Retry, ApiError):
            return False
        if response.status != 200:
            return False
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False
        return isinstance(body, dict) and isinstance(body.get("user"), dict)

    def _backoff(self, attempt: int) -> float:
        return self.pacer.backoff(attempt)

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        """Every answer's rate-limit headers to the pacer (tests replace this to stop the pacing)."""
        self.pacer.note_rate_limit(headers)

    def _fetch_token(self, grant: dict[str, Any]) -> dict[str, Any]:
        """POST the grant; a refusal comes back from `_error_for` as one line (see `_token_error`)."""
        return self.request_json(
            "POST", OAUTH_TOKENS_PATH, json_body=grant, authenticated=False, check=_require_key("access_token")
        )

def _require_key(key: str) -> Callable[[Any], None]:
    """A body check: a JSON object holding `key`, else the answer is retried like a 5xx."""

    def check(body: Any) -> None:
        if not isinstance(body, dict) or key not in body:
            raise Retry(f"an answer without {key}")

    return check
