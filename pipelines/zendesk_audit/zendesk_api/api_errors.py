"""Zendesk's error answers, mapped to the user's error in one line that says what to fix (errors.py).

Zendesk's own words are quoted through `terminal_text` (inert on a terminal) and never with a secret.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import orjson

from zendesk_audit.errors import (
    ApiError,
    AuthenticationError,
    InvalidScopeError,
    PlanError,
    ScopeError,
    SubdomainError,
    ZendeskAuditError,
)
from zendesk_audit.settings import AUDIT_LOGS_PATH, DEFAULT_OAUTH_SCOPE, OAUTH_TOKENS_PATH
from zendesk_audit.text_safety import terminal_text
from zendesk_audit.zendesk_api.auth import Auth, ClientCredentialsAuth

PLAN_FIX = "audit logs need the Enterprise plan and an admin, or a custom role with the view_audit_logs permission"
OAUTH_CLIENTS_PAGE = "Admin Center > Apps and integrations > APIs > OAuth clients"
_MISSING_SCOPES = re.compile(r"missing the following required scopes?:\s*(.+)", re.IGNORECASE)


def body_summary(content: bytes) -> str:
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


def error_for(
    status: int, content: bytes, path: str, auth: Auth, auth_mode: str, host: str, is_zendesk_account: Callable[[], bool]
) -> ZendeskAuditError:
    """The user's error for a 4xx answer, in one line that says what to fix.

    `is_zendesk_account` is asked only for a 404 at the audit-log list, to tell the plan from the subdomain."""
    summary = terminal_text(body_summary(content))  # the server's words, shown inert
    if path == OAUTH_TOKENS_PATH:
        refused = token_error(status, content, summary, auth)
        if refused is not None:
            return refused
    if status == 401:
        hint = {
            "api_token": "check email and api_token, and that the token is active",
            "access_token": "the access token is wrong or expired: get a new one or use client credentials",
            "client_credentials": "check client_id and client_secret in Admin Center > OAuth clients",
        }[auth_mode]
        return AuthenticationError(f"Zendesk refused the credentials (401 {summary}): {hint}")
    if status == 403:
        match = _MISSING_SCOPES.search(summary)
        if match or "scope" in summary.lower():
            return ScopeError(scope_message(match.group(1).strip().rstrip(".") if match else None, path, auth, auth_mode))
        return PlanError(f"Zendesk answered 403 Forbidden: {PLAN_FIX}")
    if status == 404 and b"InvalidEndpoint" in content:
        # Zendesk does not say whether a non-Enterprise account answers the audit-log paths 403 or
        # 404: a 404 from a host that answers as a Zendesk account is the plan, not the subdomain.
        if path.startswith(AUDIT_LOGS_PATH) and is_zendesk_account():
            return PlanError(
                f"Zendesk answered 404 InvalidEndpoint at {path}, but {host} is a Zendesk account: {PLAN_FIX}"
            )
        return SubdomainError(
            f"no Zendesk API at {host} (404 InvalidEndpoint at {path}): check the subdomain "
            "(the part before .zendesk.com) or base_url"
        )
    return ApiError(f"Zendesk answered {status} at {path}: {summary}", status=status)

def token_error(status: int, content: bytes, summary: str, auth: Auth) -> ZendeskAuditError | None:
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
        asked = auth.scope if isinstance(auth, ClientCredentialsAuth) else DEFAULT_OAUTH_SCOPE
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

def scope_message(missing: str | None, path: str, auth: Auth, auth_mode: str) -> str:
    """One line naming the scope Zendesk asked for and how to get a token that carries it."""
    named = repr(missing) if missing else "a scope"
    if missing == "read" and path.startswith(AUDIT_LOGS_PATH) and not path.endswith("/export"):
        named = f"{DEFAULT_OAUTH_SCOPE!r} (or 'read')"  # the narrower scope is enough to read audit logs
    if isinstance(auth, ClientCredentialsAuth):
        fix = f"allow {named} for the OAuth client in {OAUTH_CLIENTS_PAGE} and add it to scope (now {auth.scope!r})"
    elif auth_mode == "access_token":
        fix = f"get an access token whose scope includes {named}, or use client credentials"
    else:
        fix = f"use credentials whose scope includes {named}"
    asked = f"the scope {missing!r}" if missing else "a scope"
    return f"the OAuth token lacks {asked} that Zendesk asks for at {path} (403): {fix}"

