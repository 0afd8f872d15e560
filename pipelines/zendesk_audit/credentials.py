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
from zendesk_audit.settings import API_TOKEN_SUNSET, DEFAULT_OAUTH_SCOPE

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
        return mode

    def secret_values(self) -> list[str]:
        """Every secret this config holds, so tests and log filters can look for leaks."""
        return [str(v) for v in (self.api_token, self.access_token, self.client_secret, self.password) if v]


API_TOKEN_WARNING = (
    f"Zendesk turns every API token off on {API_TOKEN_SUNSET}: create an OAuth client in Admin Center "
    "(Apps and integrations > APIs > OAuth clients) and set client_id and client_secret instead of "
    "email and api_token"
)
