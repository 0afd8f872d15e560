"""The HTTP side: a threading HTTP/1.1 server that answers like Zendesk's audit-log API.

Order per API request: count it, sleep the latency, apply the request limit (429 text/plain
with Retry-After), maybe inject a fault, then route. Faults never touch state. Requests under
`/_sandbox/` are the admin interface: loopback only, no auth, never limited, faulted or counted.
"""
from __future__ import annotations

import re
import socket
import struct
import sys
import threading
import time
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from zendesk_sandbox import errors
from zendesk_sandbox.auth import AUDIT_LOGS_SCOPE, Principal
from zendesk_sandbox.data import parse_time
from zendesk_sandbox.query import answer_list, parse_list_query
from zendesk_sandbox.state import SandboxState

LIST_PATH = re.compile(r"^/api/v2/audit_logs(?:\.json)?$")
EXPORT_PATH = re.compile(r"^/api/v2/audit_logs/export(?:\.json)?$")
SHOW_PATH = re.compile(r"^/api/v2/audit_logs/([^/]+?)(?:\.json)?$")
SETTINGS_PATH = re.compile(r"^/api/v2/account/settings(?:\.json)?$")
USERS_ME_PATH = re.compile(r"^/api/v2/users/me(?:\.json)?$")
OAUTH_PATH = re.compile(r"^/oauth/tokens(?:\.json)?$")
ADMIN_PREFIX = "/_sandbox/"
ADMIN_USER_ID = 1_900_000_000_001  # who /users/me says the sandbox's credentials belong to
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
MAX_BODY = 1 << 20
FAULT_BODIES = {
    "500": (JSON_TYPE, b'{"error":"InternalServerError","description":"Something went wrong"}'),
    "502": ("text/html; charset=utf-8",
            (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
             b"Gateway</h1></center></body></html>")),
    "503": (JSON_TYPE, b'{"error":"ServiceUnavailable","description":"Service unavailable"}'),
}


class Answer:
    """One response: status, body bytes, content type and extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(self, status: int, body: bytes, content_type: str = JSON_TYPE,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


# A list page that Zendesk might garble: the real page, with its cursor spoiled or a record repeated.
PAGE_FAULTS = frozenset({"no_cursor", "repeat_cursor", "repeat_record"})
BAD_200_BODIES = {
    "html": ("text/html; charset=utf-8", b"<!DOCTYPE html><html><body><h1>Zendesk is down for maintenance</h1></body></html>"),
    "empty": (JSON_TYPE, b""),
    "no_audit_logs": (JSON_TYPE, b'{"meta":{"has_more":false},"links":{}}'),
}


def _spoil_page(answer: Answer, fault: str, params: list[tuple[str, str]],
                last_page_cursor: str) -> Answer:
    """no_cursor: has_more without a cursor (written the way a last page writes it: `""`, null or
    absent); repeat_cursor: the request's own cursor sent back; repeat_record: the page's first
    record once more at its end."""
    page = orjson.loads(answer.body)
    meta = page.setdefault("meta", {})
    if fault == "repeat_record":
        records = page.get("audit_logs") or []
        records.extend(records[:1])
    elif fault == "no_cursor":
        meta.update(has_more=True, after_cursor="" if last_page_cursor == "empty" else None)
        if last_page_cursor == "absent":
            del meta["after_cursor"]
    else:
        sent = dict(params).get("page[after]")
        if sent:
            meta.update(has_more=True, after_cursor=sent)
    return Answer(200, orjson.dumps(page), answer.content_type, answer.headers)


def json_answer(status: int, value: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, orjson.dumps(value), JSON_TYPE, headers)


class SandboxServer(ThreadingHTTPServer):
    """One thread per connection; keeps its connections so `stop` can cut them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, SandboxHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request (killed, timed out) is normal here, not a bug to print."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open keep-alive connection (used when the sandbox stops)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SandboxHandler(BaseHTTPRequestHandler):
    """Routes one request; every answer is written in a single send."""

    protocol_version = "HTTP/1.1"
    server_version = "ZendeskSandbox/1.0"
    disable_nagle_algorithm = True
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a sandbox under load must not spend its time logging."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    # ----------------------------------------------------------------- pipeline
    def _serve(self, method: str) -> None:
        state = self.server.state
        split = urlsplit(self.path)
        path = split.path
        body = self._read_body()
        if body is None:
            return
        if path.startswith(ADMIN_PREFIX):
            self._send(self._admin(method, path, body))
            return
        params = parse_qsl(split.query, keep_blank_values=True)
        is_list = method == "GET" and LIST_PATH.match(path) is not None
        state.counters.add_request(path, is_list)
        faults = state.faults
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000)
        admission = faults.admit()
        if not admission.allowed:
            state.counters.add("rate_limited")
            self._send(Answer(429, errors.RATE_LIMIT_TEXT.encode(), TEXT_TYPE,
                              {"Retry-After": str(admission.retry_after)}), admission.headers)
            return
        fault = faults.draw_fault()
        if fault in PAGE_FAULTS and not is_list:
            fault = None  # only a list page has a cursor to spoil
        if fault is not None:
            state.counters.add_fault(fault)
            if fault not in PAGE_FAULTS:
                self._inject(fault, admission.headers)
                return
        try:
            answer = self._route(method, path, params, body)
            if fault in PAGE_FAULTS and answer.status == 200:
                answer = _spoil_page(answer, fault, params,
                                     self.server.state.config.last_page_cursor)
        except errors.ApiError as error:
            answer = json_answer(error.status, error.body, error.headers)
        except Exception:  # noqa: BLE001 - a bug must still answer, never hang the client
            answer = json_answer(500, {"error": "InternalServerError",
                                       "description": "sandbox bug; see the server log"})
            self.server.handle_error(self.request, self.client_address)
        self._send(answer, admission.headers)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            size = -1
        if not 0 <= size <= MAX_BODY:
            self.close_connection = True
            self._send(json_answer(400, {"error": "InvalidValue",
                                         "description": "bad Content-Length"}))
            return None
        return self.rfile.read(size)

    def _send(self, answer: Answer, extra: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}",
                f"Server: {self.server_version}",
                f"Date: {self.date_time_string()}",
                f"Content-Type: {answer.content_type}",
                f"Content-Length: {len(answer.body)}"]
        for name, value in {**(extra or {}), **answer.headers}.items():
            head.append(f"{name}: {value}")
        if self.close_connection:
            head.append("Connection: close")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _inject(self, fault: str, headers: dict[str, str]) -> None:
        if fault == "429":  # from the edge: no Retry-After
            self._send(Answer(429, errors.RATE_LIMIT_TEXT.encode(), TEXT_TYPE), headers)
        elif fault == "429-fractional":
            self._send(Answer(429, errors.RATE_LIMIT_TEXT.encode(), TEXT_TYPE, {"Retry-After": "0.5"}), headers)
        elif fault in BAD_200_BODIES:
            content_type, body = BAD_200_BODIES[fault]
            self._send(Answer(200, body, content_type), headers)
        elif fault in FAULT_BODIES:
            content_type, body = FAULT_BODIES[fault]
            self._send(Answer(int(fault), body, content_type), headers)
        elif fault == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
        elif fault == "truncated":
            self.close_connection = True
            subdomain = self.server.state.config.subdomain
            partial = (b'{"audit_logs":[{"url":"https://' + subdomain.encode()
                       + b'.zendesk.com/api/v2/audit_logs/61')
            head = (f"HTTP/1.1 200 OK\r\nServer: {self.server_version}\r\n"
                    f"Content-Type: {JSON_TYPE}\r\nContent-Length: {len(partial) + 4096}\r\n"
                    + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
            try:
                self.wfile.write(head.encode("latin-1") + partial)
            except OSError:
                pass

    # ----------------------------------------------------------------- API routes
    def _route(self, method: str, path: str, params: list[tuple[str, str]],
               body: bytes) -> Answer:
        state = self.server.state
        if state.config.no_account:
            raise errors.invalid_endpoint()
        if OAUTH_PATH.match(path):
            if method != "POST":
                raise errors.invalid_endpoint()
            return json_answer(200, state.auth.grant(self._form(body)))
        if SETTINGS_PATH.match(path):
            if method != "GET":
                raise errors.invalid_endpoint()
            self._settings_access()
            return json_answer(200, _settings(state))
        if USERS_ME_PATH.match(path):
            if method != "GET":
                raise errors.invalid_endpoint()
            return json_answer(200, {"user": self._me()})
        if LIST_PATH.match(path):
            if method != "GET":
                raise errors.invalid_endpoint()
            self._audit_access()
            config = state.config
            query = parse_list_query(params, config.created_at_bounds)
            body_bytes, served = answer_list(state.store, query, self._base() + path, config.offset_count)
            state.counters.add("records_served", served)
            return Answer(200, body_bytes)
        if EXPORT_PATH.match(path):
            if method != "POST":
                raise errors.invalid_endpoint()
            self._audit_access(state.config.export_scope, state.config.export_scope)
            parse_list_query([(k, v) for k, v in params if k.startswith("filter[")], state.config.created_at_bounds)
            state.start_export()
            return Answer(202, b"null", JSON_TYPE,
                          {"Zendesk-RateLimit-audit-logs-export":
                           "total=1; remaining=0; resets=60"})
        match = SHOW_PATH.match(path)
        if match:
            if method != "GET":
                raise errors.invalid_endpoint()
            self._audit_access()
            raw_id = match.group(1)
            if not raw_id.isdigit():
                raise errors.invalid_value(f"id must be an integer, got {raw_id!r}")
            store = state.store
            with store.lock:
                seq = store.seq_of_id(int(raw_id))
                if seq is None:
                    raise errors.record_not_found()
                record = store.blob(seq)
            state.counters.add("records_served")
            return Answer(200, b'{"audit_log":' + record + b"}")
        raise errors.invalid_endpoint()

    def _principal(self) -> Principal:
        return self.server.state.auth.authenticate(self.headers.get("Authorization"))

    def _settings_access(self) -> None:
        principal = self._principal()
        if self.server.state.config.settings_forbidden:
            raise errors.plan_forbidden()
        scope = self.server.state.config.settings_scope.strip()
        if scope and principal.method != "basic" and not principal.has_scope(scope):
            raise errors.scope_forbidden(scope)

    def _audit_access(self, required: str = AUDIT_LOGS_SCOPE, named: str = "read") -> None:
        """Credentials, then the OAuth scope (a 403 naming `named`), then the plan."""
        principal = self._principal()
        if not principal.has_scope(required):
            raise errors.scope_forbidden(named)
        config = self.server.state.config
        if config.plan != "enterprise":
            raise errors.invalid_endpoint() if config.non_enterprise_answer == 404 else errors.plan_forbidden()

    def _me(self) -> dict[str, Any]:
        """`/users/me`: the caller, or Zendesk's anonymous user for missing or wrong credentials."""
        try:
            self._principal()
        except errors.ApiError:
            return {"id": None, "url": None, "name": "Anonymous user", "email": "invalid@example.com",
                    "role": "end-user", "verified": False, "active": True}
        config = self.server.state.config
        return {"id": ADMIN_USER_ID, "url": f"{self._base()}/api/v2/users/{ADMIN_USER_ID}.json",
                "name": "Sandbox Admin", "email": config.email, "role": "admin", "verified": True,
                "active": True}

    def _base(self) -> str:
        host = self.headers.get("Host")
        if not host:
            address, port = self.server.server_address[:2]
            host = f"{address}:{port}"
        return f"http://{host}"

    def _form(self, body: bytes) -> dict[str, Any]:
        content_type = (self.headers.get("Content-Type") or "").lower()
        if "application/x-www-form-urlencoded" in content_type:
            return dict(parse_qsl(body.decode("utf-8", "replace")))
        if not body.strip():
            return {}
        try:
            form = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:
                return dict(parse_qsl(body.decode("utf-8", "replace"), strict_parsing=True))
            except ValueError:
                raise errors.ApiError(400, {"error": "invalid_request",
                                            "error_description": "body is not JSON"}) from None
        if not isinstance(form, dict):
            raise errors.ApiError(400, {"error": "invalid_request",
                                        "error_description": "body must be a JSON object"})
        return form

    # ----------------------------------------------------------------- admin
    def _admin(self, method: str, path: str, body: bytes) -> Answer:
        if not _is_loopback(self.client_address[0]):
            return json_answer(403, {"error": "Forbidden",
                                     "description": "the admin interface is loopback only"})
        state = self.server.state
        try:
            payload = orjson.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise TypeError("the body must be a JSON object")
            route = (method, path.rstrip("/"))
            if route == ("POST", "/_sandbox/records") and "raw" in payload:
                # One or more records served byte for byte: {"raw": "<JSON text>" or [...], "created_at"?}
                created = payload.get("created_at")
                raws = payload["raw"] if isinstance(payload["raw"], list) else [payload["raw"]]
                if not all(isinstance(raw, str) for raw in raws):
                    raise TypeError("raw must be the JSON text of a record, or a list of them")
                for raw in raws:
                    state.append_raw(raw, created_at=parse_time(created) if created else None)
                return json_answer(200, {"added": len(raws)})
            if route == ("POST", "/_sandbox/records"):
                created = payload.get("created_at")
                added = state.append(
                    int(payload.get("count", 1)),
                    created_at=parse_time(created) if created else None,
                    late=bool(payload.get("late", False)),
                    fields=payload.get("fields") or {})
                return json_answer(200, {"records": added})
            if route == ("GET", "/_sandbox/counters"):
                return json_answer(200, state.counters_snapshot())
            if route == ("POST", "/_sandbox/reset_counters"):
                state.reset_counters()
                return json_answer(200, {"ok": True})
            if route == ("POST", "/_sandbox/faults"):
                changes = dict(payload)
                if "fault_kinds" in changes and changes["fault_kinds"] is not None:
                    changes["fault_kinds"] = tuple(changes["fault_kinds"])
                state.faults.update(**changes)
                return json_answer(200, {"ok": True})
            if route == ("POST", "/_sandbox/expire_tokens"):
                state.auth.expire_tokens()
                return json_answer(200, {"ok": True})
            if route == ("GET", "/_sandbox/ids"):
                return json_answer(200, sorted(state.store.all_ids()))
        except (ValueError, TypeError, orjson.JSONDecodeError) as error:
            return json_answer(400, {"error": "InvalidValue", "description": str(error)})
        return json_answer(404, {"error": "InvalidEndpoint", "description": "Not found"})


def _settings(state: SandboxState) -> dict[str, Any]:
    config = state.config
    return {"settings": {
        "localization": {"time_zone": config.time_zone, "iana_time_zone": config.iana_time_zone,
                         "locale_ids": [1]},
        "branding": {"header_color": "03363D", "page_background_color": "333333",
                     "text_color": "FFFFFF", "tab_background_color": "7FA239",
                     "tab_hover_color": "a5c563"},
        "security": {"admins_can_set_user_passwords": False, "email_agent_when_sensitive_fields"
                     "_changed": True},
        "lotus": {"prefer_lotus": True},
        "active_features": {"on_hold_status": True, "user_tagging": True},
        "subdomain": config.subdomain,
        "generated_at": datetime.now().isoformat(timespec="seconds"),
    }}


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "localhost")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
