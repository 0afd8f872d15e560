"""Credentials as a dlt config spec: one spec, three ways to authenticate, exactly one in use.

One spec rather than a Union so that a config holding two modes at once is an error we can name,
instead of dlt silently picking whichever union member resolves first.
"""
from __future__ import annotations

from typing import Literal

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.typing import TSecretStrValue

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.settings import (
    API_TOKEN_IDLE_DEACTIVATION,
    API_TOKEN_NO_NEW,
    API_TOKEN_SUNSET,
    DEFAULT_OAUTH_SCOPE,
    OAUTH_EXPIRES_IN_MAX,
    OAUTH_EXPIRES_IN_MIN,
)

AuthMode = Literal["api_token", "access_token", "client_credentials"]


@configspec
class ZendeskCredentials(CredentialsConfiguration):
    """`sources.zendesk_audit.credentials` in `.dlt/secrets.toml` or `SOURCES__ZENDESK_AUDIT__CREDENTIALS__*`."""

    email: str | None = None
    api_token: TSecretStrValue | None = None
    access_token: TSecretStrValue | None = None
    client_id: str | None = None
    client_secret: TSecretStrValue | None = None
    scope: str | None = DEFAULT_OAUTH_SCOPE
    # Client credentials only: the token life to ask for, seconds (Zendesk: 300..172800; default 30 min).
    expires_in: int | None = None
    # Only read so that we can refuse it with a useful message.
    password: TSecretStrValue | None = None

    def auth_mode(self) -> AuthMode:
        """The one mode this config describes.

        Raises:
            ConfigurationError: none, several, or an incomplete mode is configured.
        """
        if self.password:
            raise ConfigurationError(
                "Zendesk removed e-mail and password authentication in 2026: remove `password` and "
                "set OAuth client credentials (client_id, client_secret) or an access_token"
            )
        modes: list[AuthMode] = []
        if self.api_token or self.email:
            modes.append("api_token")
        if self.access_token:
            modes.append("access_token")
        if self.client_id or self.client_secret:
            modes.append("client_credentials")
        if not modes:
            raise ConfigurationError(
                "no Zendesk credentials: set SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID and "
                "__CLIENT_SECRET (OAuth), __ACCESS_TOKEN, or __EMAIL and __API_TOKEN "
                "(or the same keys under [sources.zendesk_audit.credentials] in .dlt/secrets.toml)"
            )
        if len(modes) > 1:
            raise ConfigurationError(
                f"credentials for more than one auth mode are set ({', '.join(modes)}): keep exactly one"
            )
        mode = modes[0]
        if mode == "api_token" and not (self.email and self.api_token):
            missing = "api_token" if self.email else "email"
            raise ConfigurationError(f"API-token auth needs both email and api_token: set {missing}")
        if mode == "client_credentials" and not (self.client_id and self.client_secret):
            missing = "client_secret" if self.client_id else "client_id"
            raise ConfigurationError(f"OAuth client credentials need client_id and client_secret: set {missing}")
        if mode == "client_credentials" and not (self.scope or "").strip():
            raise ConfigurationError(f"OAuth scope is empty: set scope to {DEFAULT_OAUTH_SCOPE!r}")
        if self.expires_in is not None:
            self.token_seconds(mode)
        return mode

    def token_seconds(self, mode: AuthMode = "client_credentials") -> int | None:
        """`expires_in` as an int, checked against Zendesk's bounds before anything is sent.

        Raises:
            ConfigurationError: set for another mode, not a number, or outside 300..172800.
        """
        if self.expires_in is None:
            return None
        if mode != "client_credentials":
            raise ConfigurationError(
                "expires_in is the life of a client-credentials token: remove it, or use client_id and client_secret"
            )
        try:
            seconds = int(self.expires_in)  # a per-account table hands it over as text
        except (TypeError, ValueError):
            raise ConfigurationError(f"expires_in {self.expires_in!r} is not a number of seconds") from None
        if not OAUTH_EXPIRES_IN_MIN <= seconds <= OAUTH_EXPIRES_IN_MAX:
            raise ConfigurationError(
                f"expires_in {seconds} is outside what Zendesk accepts ({OAUTH_EXPIRES_IN_MIN}..{OAUTH_EXPIRES_IN_MAX} "
                "seconds, 5 minutes to 2 days): set it in that range or remove it (tokens then live 30 minutes)"
            )
        return seconds

    def secret_values(self) -> list[str]:
        """Every secret this config holds, so tests and log filters can look for leaks."""
        return [str(v) for v in (self.api_token, self.access_token, self.client_secret, self.password) if v]


API_TOKEN_WARNING = (
    f"Zendesk is retiring API tokens: from {API_TOKEN_IDLE_DEACTIVATION} a token unused for 30 days is "
    f"deactivated, from {API_TOKEN_NO_NEW} no new token can be created, and on {API_TOKEN_SUNSET} every "
    "token stops working. To switch: in Admin Center > Apps and integrations > APIs > OAuth clients, create "
    "a client for the client-credentials grant with the scope auditlogs:read; set its client_id and "
    "client_secret under [sources.zendesk_audit.credentials] in .dlt/secrets.toml (or "
    "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID and __CLIENT_SECRET); then remove email and api_token"
)
