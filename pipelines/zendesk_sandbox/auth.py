"""Who may call the sandbox: API-token Basic and OAuth grant tokens, with Zendesk's OAuth rules.

Like Zendesk, an API token is accepted only as the Basic password, never as a Bearer token; a
client-credentials grant refuses `expires_in` outside 300..172,800 s and any scope the client may
not ask for (`400 invalid_scope`).
"""
from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from zendesk_sandbox import errors
from zendesk_sandbox.config import SandboxConfig

FULL_SCOPE = "read write"
# What the audit-log list and show need from an OAuth token; Zendesk's 403 names `read`.
AUDIT_LOGS_SCOPE = "auditlogs:read"
# Zendesk's bounds for a client-credentials token's `expires_in` (5 minutes to 2 days). The sandbox
# keeps its own copy of Zendesk's rules rather than importing the connector's: it plays the server.
EXPIRES_IN_MIN, EXPIRES_IN_MAX = 300, 172_800
KNOWN_SCOPE = re.compile(r"^(?:read|write|impersonate|[a-z_]+:(?:read|write))$")


def covers(scopes: frozenset[str], required: str) -> bool:
    """Whether `scopes` grant `required`: itself, or `read`/`write` for any `X:read`/`X:write`."""
    if required in scopes:
        return True
    _, _, access = required.rpartition(":")
    return ":" in required and access in scopes


@dataclass
class Principal:
    """An authenticated caller and the scopes its credential carries."""

    method: str  # "basic" or "oauth"
    scopes: frozenset[str]

    def has_scope(self, required: str) -> bool:
        return covers(self.scopes, required)


class Authenticator:
    """Checks Authorization headers and issues client-credentials tokens."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}

    def authenticate(self, header: str | None) -> Principal:
        """The caller behind an Authorization header.

        Raises:
            ApiError: 401 with Zendesk's body for missing, wrong or expired credentials.
        """
        if not header:
            raise errors.unauthenticated()
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise errors.unauthenticated() from None
            expected_user = f"{self._config.email}/token".lower()
            if user.lower() == expected_user and secrets.compare_digest(
                    password, self._config.api_token):
                return Principal("basic", frozenset(FULL_SCOPE.split()))
            raise errors.unauthenticated()
        if scheme.lower() == "bearer" and value:
            with self._lock:
                entry = self._tokens.get(value)
            if entry is not None and entry[0] > time.monotonic():
                return Principal("oauth", entry[1])
        raise errors.unauthenticated()

    def grant(self, form: dict[str, Any]) -> dict[str, Any]:
        """Answer `POST /oauth/tokens` for the client-credentials grant.

        Raises:
            ApiError: 400 for another grant type, an `expires_in` outside 300..172800 or not an
                integer (`invalid_request`), a scope the client may not ask for (`invalid_scope`);
                401 for a wrong client.
        """
        if form.get("grant_type") != "client_credentials":
            raise errors.unsupported_grant_type()
        if (form.get("client_id") != self._config.client_id
                or not secrets.compare_digest(str(form.get("client_secret") or ""),
                                              self._config.client_secret)):
            raise errors.invalid_client()
        ttl = self._config.token_ttl_seconds
        requested = form.get("expires_in")
        if requested not in (None, ""):
            try:
                seconds = int(requested)
            except (TypeError, ValueError):
                raise errors.invalid_request("expires_in must be an integer") from None
            if not EXPIRES_IN_MIN <= seconds <= EXPIRES_IN_MAX:
                raise errors.invalid_request(
                    f"expires_in must be between {EXPIRES_IN_MIN} and {EXPIRES_IN_MAX} seconds")
            ttl = min(ttl, seconds)
        scope = str(form.get("scope") or "read")
        if not all(self._may_ask_for(name) for name in scope.split()):
            raise errors.invalid_scope()
        token = secrets.token_hex(32)
        with self._lock:
            self._tokens[token] = (time.monotonic() + ttl, frozenset(scope.split()))
        return {"access_token": token, "token_type": "bearer", "scope": scope,
                "expires_in": ttl}

    def _may_ask_for(self, scope: str) -> bool:
        allowed = self._config.client_scopes
        return KNOWN_SCOPE.match(scope) is not None and (allowed is None or scope in allowed)

    def expire_tokens(self) -> None:
        """Make every token issued so far expired."""
        with self._lock:
            self._tokens = {t: (0.0, scopes) for t, (_, scopes) in self._tokens.items()}
