"""Zendesk's error answers, one constructor each, so every envelope is spelled in one place."""
from __future__ import annotations

from typing import Any

PLAN_MESSAGE = ("You do not have access to this page. Please contact the account owner of this "
                "help desk for further help.")
DEPTH_TITLE = ("Pagination requests using Offset Pagination are limited to page 100 or up to "
               "10000 records (page * per_page)")
EXPORT_MESSAGE = ("Rate limit for Audit log CSV Export exceeded. Please wait 1 minute and try "
                  "again.")
RATE_LIMIT_TEXT = "Number of allowed API requests per minute exceeded"


class ApiError(Exception):
    """An answer that ends a request early: status, JSON body and extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def unauthenticated() -> ApiError:
    return ApiError(401, {"error": "Couldn't authenticate you"})


def plan_forbidden() -> ApiError:
    return ApiError(403, {"error": {"title": "Forbidden", "message": PLAN_MESSAGE}})


def scope_forbidden(scope: str = "read") -> ApiError:
    return ApiError(403, {"error": "Forbidden",
                          "description": f"You are missing the following required scopes: {scope}"})


def invalid_endpoint() -> ApiError:
    return ApiError(404, {"error": "InvalidEndpoint", "description": "Not found"})


def record_not_found() -> ApiError:
    return ApiError(404, {"error": "RecordNotFound", "description": "Not found"})


def invalid_pagination(description: str) -> ApiError:
    return ApiError(400, {"error": "InvalidPaginationParameter", "description": description})


def invalid_value(description: str) -> ApiError:
    return ApiError(400, {"error": "InvalidValue", "description": description})


def pagination_depth() -> ApiError:
    return ApiError(400, {"errors": [{"code": "InvalidPaginationDepth", "title": DEPTH_TITLE}]})


def export_limited(resets: int) -> ApiError:
    return ApiError(429, {"error": "TooManyRequests", "description": EXPORT_MESSAGE},
                    {"Zendesk-RateLimit-audit-logs-export":
                     f"total=1; remaining=0; resets={resets}", "Retry-After": str(resets)})


# The OAuth errors follow RFC 6749 (`error`, `error_description`), as Zendesk's `invalid_client`
# does; the descriptions are the usual OAuth-server wording, Zendesk's exact text is not documented.
def invalid_client() -> ApiError:
    return ApiError(401, {"error": "invalid_client",
                          "error_description": "Client authentication failed due to unknown client, "
                                               "no client authentication included, or unsupported "
                                               "authentication method."})


def unsupported_grant_type() -> ApiError:
    return ApiError(400, {"error": "unsupported_grant_type",
                          "error_description": "The authorization grant type is not supported by "
                                               "the authorization server."})


def invalid_scope() -> ApiError:
    return ApiError(400, {"error": "invalid_scope",
                          "error_description": "The requested scope is invalid, unknown, or "
                                               "malformed."})


def invalid_request(description: str) -> ApiError:
    return ApiError(400, {"error": "invalid_request", "error_description": description})
