"""Credentials as a dlt config spec: one spec, three ways to authenticate, exactly one in use.

One spec rather than a Union so that a config holding two modes at once is an error we can name,
instead of dlt silently picking whichever union member resolves first.

Values are pasted by hand, so a trailing newline or space is common: it is stripped when the
config resolves. A value that still holds a space, a control character or (for a secret) anything
but printable ASCII is refused in one line that names the key, never the value: sent as it is,
the HTTP library would put the whole header, secret included, in its error message.
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

    def on_resolved(self) -> None:
        self.strip_values()

    def strip_values(self) -> None:
        """Strip the whitespace a copy-paste leaves around a value; a blank value is no value."""
        for name in _PASTED_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, value.strip() or None)

    def auth_mode(self) -> AuthMode:
        """The one mode this config describes.

        Raises:
            ConfigurationError: none, several, or an incomplete mode is configured, or a value
                holds characters no credential has.
        """
        self.strip_values()
        for name in _PASTED_FIELDS:
            value = getattr(self, name)
            if value is not None and not _well_formed(name, str(value)):
                secret = name in _SECRET_FIELDS
                kinds = "a space, tab, line break or non-ASCII character" if secret else "a space, tab or line break"
                raise ConfigurationError(
                    f"credentials: {name} holds {kinds} inside it{' (the value is not shown)' if secret else ''}: "
                    "copy it again exactly as Zendesk shows it"
                )
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


_SECRET_FIELDS = ("api_token", "access_token", "client_secret", "password")
_PASTED_FIELDS = ("email", "client_id", "scope", *_SECRET_FIELDS)


def _well_formed(name: str, value: str) -> bool:
    """Secrets are printable ASCII without spaces (they go into headers as they are); the e-mail
    and client id may be any text without whitespace or control characters; the scope is
    space-separated words."""
    if name in _SECRET_FIELDS:
        return value.isascii() and value.isprintable() and " " not in value
    if name == "scope":
        return value.isprintable()
    return value.isprintable() and not any(character.isspace() for character in value)


API_TOKEN_WARNING = (
    f"Zendesk is retiring API tokens: from {API_TOKEN_IDLE_DEACTIVATION} a token unused for 30 days is "
    f"deactivated, from {API_TOKEN_NO_NEW} no new token can be created, and on {API_TOKEN_SUNSET} every "
    "token stops working. To switch: in Admin Center > Apps and integrations > APIs > OAuth clients, create "
    "a client for the client-credentials grant with the scope auditlogs:read; set its client_id and "
    "client_secret under [sources.zendesk_audit.credentials] in .dlt/secrets.toml (or "
    "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID and __CLIENT_SECRET); then remove email and api_token"
)
