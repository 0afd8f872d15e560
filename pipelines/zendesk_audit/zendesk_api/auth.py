"""The Authorization header for the three ways Zendesk lets a loader in. Secrets stay in headers."""
from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from zendesk_audit.errors import ApiError
from zendesk_audit.settings import DEFAULT_OAUTH_SCOPE, TOKEN_RENEW_MARGIN_SECONDS
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials
from zendesk_audit.zendesk_api.numbers import NUMBER_CEILING, bounded_number

TokenFetcher = Callable[[dict[str, Any]], dict[str, Any]]


class Auth(Protocol):
    def header(self) -> str:
        """The Authorization header's value for the next request."""
        ...


class FixedAuth:
    """An API token (HTTP Basic, `{email}/token:{token}`) or a fixed OAuth access token (Bearer)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def header(self) -> str:
        return self._value


class ClientCredentialsAuth:
    """OAuth client-credentials grant: fetches a token, renews it before it expires or after a 401.

    The token request itself goes through `fetch_token`, the client's retrying POST, so a flaky
    token endpoint is retried like any other call.
    """

    def __init__(
        self, client_id: str, client_secret: str, scope: str, fetch_token: TokenFetcher, expires_in: int | None = None
    ) -> None:
        self.scope = scope or DEFAULT_OAUTH_SCOPE
        self._grant: dict[str, Any] = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": self.scope,
        }
        if expires_in is not None:
            self._grant["expires_in"] = expires_in
        self._fetch_token = fetch_token
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def header(self) -> str:
        return f"Bearer {self._current_token()}"

    def invalidate(self, refused: str) -> None:
        """Forget the token Zendesk refused (401, header `refused`) so the next request fetches a new one.

        Workers in flight when a token is revoked all get a 401: only the first renews, the others
        find the token already replaced and retry with it.
        """
        with self._lock:
            if self._token is not None and refused == f"Bearer {self._token}":
                self._token = None

    def _current_token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at - TOKEN_RENEW_MARGIN_SECONDS:
                answer = self._fetch_token(self._grant)
                token = answer["access_token"]
                if not token:
                    raise ApiError("Zendesk's /oauth/tokens answered an empty access_token: check the OAuth client")
                expires_in = answer.get("expires_in")
                # No readable lifetime: kept until Zendesk refuses it (a 401 renews it once).
                lifetime = bounded_number(expires_in)
                lifetime = NUMBER_CEILING if lifetime is None else lifetime
                self._token, self._expires_at = str(token), time.monotonic() + lifetime
            return self._token


def create_auth(credentials: ZendeskCredentials, fetch_token: TokenFetcher) -> Auth:
    """The auth object for the one mode `credentials` describes."""
    mode = credentials.auth_mode()
    if mode == "api_token":
        pair = f"{credentials.email}/token:{credentials.api_token}".encode()
        return FixedAuth("Basic " + base64.b64encode(pair).decode("ascii"))
    if mode == "access_token":
        return FixedAuth(f"Bearer {credentials.access_token}")
    return ClientCredentialsAuth(
        str(credentials.client_id),
        str(credentials.client_secret),
        str(credentials.scope),
        fetch_token,
        expires_in=credentials.token_seconds(),
    )
