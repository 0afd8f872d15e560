"""Who may call the sandbox: API-token Basic, a static Bearer token, and OAuth grant tokens."""
from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from zendesk_audit.sandbox import errors
from zendesk_audit.sandbox.config import SandboxConfig

FULL_SCOPE = "read write"
READ_SCOPES = {"read", "auditlogs:read"}


@dataclass
class Principal:
    """An authenticated caller and the scopes its credential carries."""

    method: str  # "basic", "bearer" or "oauth"
    scopes: frozenset[str]

    def can_read_audit_logs(self) -> bool:
        return bool(self.scopes & READ_SCOPES)


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
            if secrets.compare_digest(value, self._config.api_token):
                return Principal("bearer", frozenset(FULL_SCOPE.split()))
            with self._lock:
                entry = self._tokens.get(value)
            if entry is not None and entry[0] > time.monotonic():
                return Principal("oauth", entry[1])
        raise errors.unauthenticated()

    def grant(self, form: dict[str, Any]) -> dict[str, Any]:
        """Answer `POST /oauth/tokens` for the client-credentials grant.

        Raises:
            ApiError: 400 for another grant type, 401 for a wrong client.
        """
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            raise errors.ApiError(400, {
                "error": "unsupported_grant_type",
                "error_description": "The authorization grant type is not supported by the "
                                     "authorization server."})
        if (form.get("client_id") != self._config.client_id
                or not secrets.compare_digest(str(form.get("client_secret") or ""),
                                              self._config.client_secret)):
            raise errors.ApiError(401, {
                "error": "invalid_client",
                "error_description": "Client authentication failed due to unknown client, no "
                                     "client authentication included, or unsupported "
                                     "authentication method."})
        ttl = self._config.token_ttl_seconds
        requested = form.get("expires_in")
        if requested not in (None, ""):
            try:
                ttl = max(1, min(ttl, int(requested)))
            except (TypeError, ValueError):
                raise errors.ApiError(400, {"error": "invalid_request",
                                            "error_description": "expires_in must be an "
                                                                 "integer"}) from None
        scope = str(form.get("scope") or "read")
        token = secrets.token_hex(32)
        with self._lock:
            self._tokens[token] = (time.monotonic() + ttl, frozenset(scope.split()))
        return {"access_token": token, "token_type": "bearer", "scope": scope,
                "expires_in": ttl}

    def expire_tokens(self) -> None:
        """Make every token issued so far expired."""
        with self._lock:
            self._tokens = {t: (0.0, scopes) for t, (_, scopes) in self._tokens.items()}
