"""Conformance suite for the sandbox: plain `requests` over loopback, one test per behaviour.

Nothing is mocked: every test talks HTTP to a real sandbox on a free loopback port.
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests

from zendesk_sandbox import Sandbox, SandboxConfig
from zendesk_sandbox.data import SEQ_BITS, RecordStore

EMAIL = "admin@acme.example"
TOKEN = "sandbox-api-token"
BASIC = (f"{EMAIL}/token", TOKEN)
LIST = "/api/v2/audit_logs"
FIELDS = {"url", "id", "action_label", "actor_id", "source_id", "source_type", "source_label",
          "action", "change_description", "ip_address", "created_at", "actor_name"}
PLAN_BODY = {"error": {"title": "Forbidden", "message": "You do not have access to this page. "
                       "Please contact the account owner of this help desk for further help."}}


@pytest.fixture(scope="module")
def shared() -> Sandbox:
    """One read-only sandbox for the tests that do not change state."""
    with Sandbox(records=1_500, seed=7) as running:
        yield running


@pytest.fixture
def http() -> requests.Session:
    session = requests.Session()
    session.auth = BASIC
    yield session
    session.close()


def walk(session: requests.Session, base_url: str, **params: object) -> list[dict]:
    """Follow `meta.after_cursor` until `has_more` is false, as a connector does."""
    records: list[dict] = []
    query = {"page[size]": 100, **params}
    while True:
        body = session.get(f"{base_url}{LIST}", params=query).json()
        records.extend(body["audit_logs"])
        if not body["meta"]["has_more"]:
            return records
        query["page[after]"] = body["meta"]["after_cursor"]


# ----------------------------------------------------------------- auth
def test_basic_auth_lists_records_with_twelve_fields(shared: Sandbox, http) -> None:
    response = http.get(f"{shared.base_url}{LIST}", params={"page[size]": 5})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"audit_logs", "meta", "links"}
    assert len(body["audit_logs"]) == 5
    assert all(set(r) == FIELDS for r in body["audit_logs"])


def test_an_api_token_is_never_accepted_as_a_bearer_token(shared: Sandbox) -> None:
    for path in (LIST, f"{LIST}/export", "/api/v2/account/settings"):
        method = "POST" if path.endswith("export") else "GET"
        response = requests.request(method, f"{shared.base_url}{path}",
                                    headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 401, path
        assert response.json() == {"error": "Couldn't authenticate you"}
    assert requests.get(f"{shared.base_url}{LIST}?page[size]=1", auth=BASIC).status_code == 200


def test_oauth_client_credentials_token_works_then_expires(sandbox: Sandbox) -> None:
    grant = requests.post(f"{sandbox.base_url}/oauth/tokens", json={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "sandbox-secret", "scope": "auditlogs:read", "expires_in": 600})
    assert grant.status_code == 200
    token = grant.json()
    assert token["token_type"] == "bearer" and token["scope"] == "auditlogs:read"
    assert token["expires_in"] == 600
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{sandbox.base_url}{LIST}", headers=headers).status_code == 200
    sandbox.expire_tokens()
    expired = requests.get(f"{sandbox.base_url}{LIST}", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"error": "Couldn't authenticate you"}


def test_oauth_token_lifetime_is_capped_and_expires(sandbox_factory) -> None:
    sb = sandbox_factory(records=10, token_ttl_seconds=1)
    grant = requests.post(f"{sb.base_url}/oauth/tokens", data={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "sandbox-secret", "scope": "read", "expires_in": "3600"})
    assert grant.status_code == 200 and grant.json()["expires_in"] == 1
    time.sleep(1.1)
    response = requests.get(f"{sb.base_url}{LIST}",
                            headers={"Authorization": f"Bearer {grant.json()['access_token']}"})
    assert response.status_code == 401


def test_oauth_errors(shared: Sandbox) -> None:
    url = f"{shared.base_url}/oauth/tokens"
    wrong = requests.post(url, json={"grant_type": "client_credentials",
                                     "client_id": "sandbox-client", "client_secret": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert "error_description" in wrong.json()
    grant = requests.post(url, json={"grant_type": "password", "client_id": "sandbox-client",
                                     "client_secret": "sandbox-secret"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def _grant(base_url: str, **fields: object) -> requests.Response:
    return requests.post(f"{base_url}/oauth/tokens", json={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "sandbox-secret", **fields})


@pytest.mark.parametrize("expires_in, status", [
    (299, 400), (300, 200), (172_800, 200), (172_801, 400), (0, 400), (-5, 400), ("soon", 400)])
def test_oauth_expires_in_outside_300_to_172800_is_refused(shared: Sandbox, expires_in, status) -> None:
    grant = _grant(shared.base_url, scope="read", expires_in=expires_in)
    assert grant.status_code == status, grant.text
    if status == 400:
        assert grant.json()["error"] == "invalid_request"
        assert "expires_in" in grant.json()["error_description"]
    else:
        assert grant.json()["expires_in"] == min(expires_in, 1800)


def test_a_scope_the_client_may_not_ask_for_is_invalid_scope(sandbox_factory) -> None:
    narrow = sandbox_factory(records=10, client_scopes=("auditlogs:read",))
    for scope in ("read", "auditlogs:read write", "auditlogs:read impersonate"):
        refused = _grant(narrow.base_url, scope=scope)
        assert refused.status_code == 400, scope
        assert refused.json()["error"] == "invalid_scope" and refused.json()["error_description"]
    granted = _grant(narrow.base_url, scope="auditlogs:read")
    assert granted.status_code == 200 and granted.json()["scope"] == "auditlogs:read"
    # The default client may ask for any scope Zendesk knows, and none it does not.
    assert _grant(narrow.base_url).status_code == 400  # without a scope the grant asks for "read"
    default = sandbox_factory(records=10)
    assert _grant(default.base_url, scope="read write tickets:read auditlogs:read").status_code == 200
    assert _grant(default.base_url, scope="read everything").json()["error"] == "invalid_scope"


@pytest.mark.parametrize("export_scope, token_scope, status", [
    ("auditlogs:read", "auditlogs:read", 202),
    ("auditlogs:read", "read", 202),
    ("write", "auditlogs:read", 403),
    ("write", "auditlogs:read write", 202),
    ("auditlogs:write", "auditlogs:read", 403),
    ("auditlogs:write", "read write", 202),
])
def test_export_needs_the_configured_scope(sandbox_factory, export_scope, token_scope, status) -> None:
    sb = sandbox_factory(records=10, export_scope=export_scope)
    token = _grant(sb.base_url, scope=token_scope).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.post(f"{sb.base_url}{LIST}/export", headers=headers)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.json() == {"error": "Forbidden", "description":
                                 f"You are missing the following required scopes: {export_scope}"}
    # The list keeps its own rule whatever the export needs.
    assert requests.get(f"{sb.base_url}{LIST}", headers=headers).status_code == 200
    # An API token (Basic) carries every scope but impersonate.
    assert requests.post(f"{sb.base_url}{LIST}/export", auth=BASIC).status_code in (202, 429)


def test_users_me_answers_anonymous_to_missing_or_wrong_credentials(shared: Sandbox) -> None:
    me = f"{shared.base_url}/api/v2/users/me"
    for kwargs in ({}, {"auth": (f"{EMAIL}/token", "wrong")},
                   {"headers": {"Authorization": f"Bearer {TOKEN}"}}):
        answer = requests.get(me, **kwargs)
        assert answer.status_code == 200
        assert answer.json()["user"]["name"] == "Anonymous user" and answer.json()["user"]["id"] is None
    admin = requests.get(f"{me}.json", auth=BASIC).json()["user"]
    assert admin["email"] == EMAIL and admin["role"] == "admin" and isinstance(admin["id"], int)


def test_non_enterprise_answer_404_is_invalid_endpoint_on_audit_logs_only(sandbox_factory) -> None:
    sb = sandbox_factory(records=10, plan="professional", non_enterprise_answer=404)
    for method, path in (("GET", LIST), ("GET", f"{LIST}/1"), ("POST", f"{LIST}/export")):
        response = requests.request(method, f"{sb.base_url}{path}", auth=BASIC)
        assert response.status_code == 404, path
        assert response.json() == {"error": "InvalidEndpoint", "description": "Not found"}
    assert requests.get(f"{sb.base_url}/api/v2/account/settings", auth=BASIC).status_code == 200
    assert requests.get(f"{sb.base_url}/api/v2/users/me", auth=BASIC).json()["user"]["role"] == "admin"
    assert requests.get(f"{sb.base_url}{LIST}").status_code == 401  # credentials are still checked first


def test_no_account_answers_404_invalid_endpoint_everywhere(sandbox_factory) -> None:
    sb = sandbox_factory(records=10, no_account=True)
    for method, path in (("GET", LIST), ("POST", f"{LIST}/export"), ("GET", "/api/v2/users/me"),
                         ("GET", "/api/v2/account/settings"), ("POST", "/oauth/tokens")):
        response = requests.request(method, f"{sb.base_url}{path}", auth=BASIC)
        assert response.status_code == 404, path
        assert response.json() == {"error": "InvalidEndpoint", "description": "Not found"}
    assert requests.get(f"{sb.base_url}/_sandbox/counters").status_code == 200  # the admin side still answers


def test_missing_scope_is_403(shared: Sandbox) -> None:
    token = requests.post(f"{shared.base_url}/oauth/tokens", json={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "sandbox-secret", "scope": "tickets:read"}).json()["access_token"]
    response = requests.get(f"{shared.base_url}{LIST}",
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden", "description":
                               "You are missing the following required scopes: read"}


@pytest.mark.parametrize("auth", [None, (f"{EMAIL}/token", "wrong"), (EMAIL, TOKEN),
                                  "Bearer nope", "Basic !!!"])
def test_missing_or_wrong_credentials_are_401(shared: Sandbox, auth) -> None:
    kwargs = {"headers": {"Authorization": auth}} if isinstance(auth, str) else {"auth": auth}
    response = requests.get(f"{shared.base_url}{LIST}", **kwargs)
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


def test_professional_plan_is_403_after_auth(sandbox_factory) -> None:
    sb = sandbox_factory(records=10, plan="professional")
    for method, path in (("GET", LIST), ("GET", f"{LIST}/1"), ("POST", f"{LIST}/export")):
        response = requests.request(method, f"{sb.base_url}{path}", auth=BASIC)
        assert response.status_code == 403 and response.json() == PLAN_BODY
    assert requests.get(f"{sb.base_url}{LIST}").status_code == 401
    assert requests.get(f"{sb.base_url}/api/v2/account/settings", auth=BASIC).status_code == 200


# ----------------------------------------------------------------- routing
@pytest.mark.parametrize("method,path", [("GET", "/api/v2/tickets"), ("GET", "/"),
                                         ("DELETE", LIST), ("GET", f"{LIST}/export"),
                                         ("GET", "/oauth/tokens")])
def test_unknown_path_or_method_is_404(shared: Sandbox, method: str, path: str) -> None:
    response = requests.request(method, f"{shared.base_url}{path}", auth=BASIC)
    assert response.status_code == 404
    assert response.json() == {"error": "InvalidEndpoint", "description": "Not found"}


def test_json_suffixes(sandbox: Sandbox, http) -> None:
    record = sandbox.records()[0]
    base = sandbox.base_url
    assert http.get(f"{base}{LIST}.json?page[size]=2").status_code == 200
    assert http.get(f"{base}{LIST}/{record['id']}.json").json()["audit_log"] == record
    assert http.get(f"{base}/api/v2/account/settings.json").status_code == 200
    assert http.post(f"{base}{LIST}/export.json").status_code == 202
    assert requests.post(f"{base}/oauth/tokens.json", json={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "sandbox-secret"}).status_code == 200


# ----------------------------------------------------------------- cursor pagination
@pytest.mark.parametrize("sort", ["created_at", "-created_at"])
def test_cursor_walk_matches_records_in_both_orders(shared: Sandbox, http, sort: str) -> None:
    served = walk(http, shared.base_url, sort=sort)
    expected = shared.records()
    assert served == (expected if sort == "created_at" else expected[::-1])


def test_default_sort_is_newest_first(shared: Sandbox, http) -> None:
    body = http.get(f"{shared.base_url}{LIST}?page[size]=3").json()
    assert body["audit_logs"] == shared.records()[::-1][:3]


def test_before_cursor_goes_back(shared: Sandbox, http) -> None:
    url = f"{shared.base_url}{LIST}"
    first = http.get(url, params={"page[size]": 10, "sort": "created_at"}).json()
    second = http.get(url, params={"page[size]": 10, "sort": "created_at",
                                   "page[after]": first["meta"]["after_cursor"]}).json()
    back = http.get(url, params={"page[size]": 10, "sort": "created_at",
                                 "page[before]": second["meta"]["before_cursor"]}).json()
    assert back["audit_logs"] == first["audit_logs"]
    prev = http.get(second["links"]["prev"]).json()
    assert prev["audit_logs"] == first["audit_logs"]


def test_last_and_empty_pages_carry_empty_cursors_as_zendesk_does(shared: Sandbox, http) -> None:
    url = f"{shared.base_url}{LIST}"
    last = http.get(url, params={"page[size]": 100, "sort": "created_at",
                                 "filter[created_at][]": ["2026-10-30T00:00:00Z",
                                                          "2026-11-01T00:00:00Z"]}).json()
    assert last["audit_logs"] and last["meta"]["has_more"] is False
    assert last["meta"]["after_cursor"] == "" and last["links"]["next"] == ""
    assert last["meta"]["before_cursor"] and last["links"]["prev"]  # the way back still works
    empty = http.get(url, params={"page[size]": 100, "filter[action]": "nope"}).json()
    assert empty == {"audit_logs": [], "meta": {"has_more": False, "after_cursor": "",
                                                "before_cursor": ""},
                     "links": {"prev": "", "next": ""}}


LAST_PAGES = {  # mode -> (last page's meta and links beyond has_more, empty page's)
    "empty": ({"after_cursor": ""}, {"next": ""},
              {"after_cursor": "", "before_cursor": ""}, {"prev": "", "next": ""}),
    "null": ({"after_cursor": None}, {"next": None},
             {"after_cursor": None, "before_cursor": None}, {"prev": None, "next": None}),
    "absent": ({}, {}, {}, {}),
    "cursor": (None, None, {"after_cursor": None, "before_cursor": None},
               {"prev": None, "next": None}),
}


@pytest.mark.parametrize("mode", sorted(LAST_PAGES))
@pytest.mark.parametrize("sort", ["created_at", "-created_at"])
def test_last_page_cursor_modes_write_the_missing_cursor_as_asked(sandbox_factory, http,
                                                                   mode: str, sort: str) -> None:
    sb = sandbox_factory(records=250, seed=11, last_page_cursor=mode)
    url = f"{sb.base_url}{LIST}"
    served, query, pages = [], {"page[size]": 100, "sort": sort}, []
    while True:
        page = http.get(url, params=query).json()
        pages.append(page)
        served.extend(page["audit_logs"])
        if not page["meta"]["has_more"]:
            break
        query["page[after]"] = page["meta"]["after_cursor"]
    assert [len(p["audit_logs"]) for p in pages] == [100, 100, 50]
    expected = sb.records() if sort == "created_at" else sb.records()[::-1]
    assert served == expected
    last_meta, last_links, empty_meta, empty_links = LAST_PAGES[mode]
    last = pages[-1]
    assert last["meta"]["before_cursor"] and last["links"]["prev"]
    if last_meta is None:  # a real position: following it finds nothing more
        assert last["meta"]["after_cursor"] and last["links"]["next"]
        after = http.get(last["links"]["next"]).json()
        assert after["audit_logs"] == [] and after["meta"]["has_more"] is False
    else:
        assert {k: v for k, v in last["meta"].items() if k == "after_cursor"} == last_meta
        assert {k: v for k, v in last["links"].items() if k == "next"} == last_links
    # Backwards, the cursor onward is before_cursor/prev: the first page back is the last one.
    back = http.get(url, params={"page[size]": 100, "sort": sort,
                                 "page[before]": pages[1]["meta"]["before_cursor"]}).json()
    assert back["audit_logs"] == pages[0]["audit_logs"] and back["meta"]["has_more"] is False
    assert back["meta"]["after_cursor"] and back["links"]["next"]
    if last_meta is not None:
        renamed = {"after_cursor": "before_cursor", "next": "prev"}
        assert {renamed[k]: v for k, v in last_meta.items()} == {
            k: v for k, v in back["meta"].items() if k == "before_cursor"}
        assert {renamed[k]: v for k, v in last_links.items()} == {
            k: v for k, v in back["links"].items() if k == "prev"}
    empty = http.get(url, params={"page[size]": 100, "filter[action]": "nope"}).json()
    assert empty == {"audit_logs": [], "meta": {"has_more": False, **empty_meta},
                     "links": empty_links}


def test_an_unknown_last_page_cursor_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="last_page_cursor must be one of empty, null, absent"):
        SandboxConfig(last_page_cursor="none")


def test_links_keep_filters_and_sort(shared: Sandbox, http) -> None:
    params = {"page[size]": 5, "sort": "created_at", "filter[action][]": ["update", "login"],
              "filter[created_at][]": ["2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"]}
    body = http.get(f"{shared.base_url}{LIST}", params=params).json()
    next_url = body["links"]["next"]
    assert next_url.startswith(f"{shared.base_url}{LIST}?")
    for fragment in ("sort=created_at", "filter[action][]=update", "filter[action][]=login",
                     "page[size]=5", "filter[created_at][]=2026-01-01T00%3A00%3A00Z",
                     f"page[after]={body['meta']['after_cursor']}"):
        assert fragment in next_url
    following = http.get(next_url).json()["audit_logs"]
    assert all(r["action"] in ("update", "login") for r in following)
    assert following[0]["created_at"] >= body["audit_logs"][-1]["created_at"]


@pytest.mark.parametrize("size", ["101", "0", "-1", "abc", ""])
def test_page_size_out_of_range_is_400(shared: Sandbox, http, size: str) -> None:
    response = http.get(f"{shared.base_url}{LIST}?page[size]={size}")
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidPaginationParameter"
    assert http.get(f"{shared.base_url}{LIST}?page[size]=100").status_code == 200


# ----------------------------------------------------------------- filters
@pytest.mark.parametrize("field", ["action", "actor_id", "ip_address", "source_type"])
def test_each_filter_single_and_multi(shared: Sandbox, http, field: str) -> None:
    records = shared.records()
    common = [value for value, _ in Counter(r[field] for r in records
                                            if r[field] is not None).most_common(2)]
    single = walk(http, shared.base_url, sort="created_at", **{f"filter[{field}]": common[0]})
    assert single == [r for r in records if r[field] == common[0]]
    multi = walk(http, shared.base_url, sort="created_at", **{f"filter[{field}][]": common})
    assert multi == [r for r in records if r[field] in common]


def test_source_id_filter_with_source_type(shared: Sandbox, http) -> None:
    records = shared.records()
    rule = next(r for r in records if r["source_type"] == "rule")
    served = walk(http, shared.base_url, sort="created_at",
                  **{"filter[source_type]": "rule", "filter[source_id][]": [rule["source_id"]]})
    assert served == [r for r in records if r["source_type"] == "rule"
                      and r["source_id"] == rule["source_id"]]


def test_combined_filters(shared: Sandbox, http) -> None:
    records = shared.records()
    served = walk(http, shared.base_url, **{"filter[action]": "update",
                                            "filter[source_type][]": ["rule", "user"]})
    assert served == [r for r in records[::-1] if r["action"] == "update"
                      and r["source_type"] in ("rule", "user")]


def test_created_at_range_is_inclusive_on_both_bounds(shared: Sandbox, http) -> None:
    records = shared.records()
    start, end = records[100]["created_at"], records[200]["created_at"]
    served = walk(http, shared.base_url, sort="created_at",
                  **{"filter[created_at][]": [start, end]})
    assert served == [r for r in records if start <= r["created_at"] <= end]
    assert served[0]["created_at"] == start and served[-1]["created_at"] == end
    only_start = walk(http, shared.base_url, sort="created_at",
                      **{"filter[created_at][]": [start.replace("Z", "+00:00")]})
    assert only_start == [r for r in records if r["created_at"] >= start]


@pytest.mark.parametrize("bounds", ["inclusive", "exclusive", "start-inclusive", "end-inclusive"])
def test_created_at_bounds_follow_the_configured_reading(sandbox_factory, http, bounds: str) -> None:
    sb = sandbox_factory(records=400, seed=7, created_at_bounds=bounds)
    at = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
    sb.append(3, created_at=at)  # on the start bound
    sb.append(4, created_at=at + timedelta(seconds=1))
    sb.append(5, created_at=at + timedelta(seconds=2))  # on the end bound
    start, end = "2026-06-01T12:00:00Z", "2026-06-01T12:00:02Z"
    served = walk(http, sb.base_url, sort="created_at", **{"filter[created_at][]": [start, end]})
    low_ok = (lambda t: t >= start) if bounds in ("inclusive", "start-inclusive") else (lambda t: t > start)
    high_ok = (lambda t: t <= end) if bounds in ("inclusive", "end-inclusive") else (lambda t: t < end)
    assert served == [r for r in sb.records() if low_ok(r["created_at"]) and high_ok(r["created_at"])]
    assert len(served) == {"inclusive": 12, "exclusive": 4, "start-inclusive": 7, "end-inclusive": 9}[bounds]
    offset = http.get(f"{sb.base_url}{LIST}", params={"filter[created_at][]": [start, end], "per_page": 100}).json()
    assert len(offset["audit_logs"]) == len(served)


def test_an_unknown_bounds_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="created_at_bounds must be one of"):
        SandboxConfig(created_at_bounds="both")


def test_start_time_is_ignored(shared: Sandbox, http) -> None:
    url = f"{shared.base_url}{LIST}?page[size]=10"
    ignored = http.get(f"{url}&start_time=1999999999").json()
    plain = http.get(url).json()
    assert (ignored["audit_logs"], ignored["meta"]) == (plain["audit_logs"], plain["meta"])


@pytest.mark.parametrize("query", [
    "page[after]=not-a-cursor", "page[before]=%%%", "filter[created_at][]=yesterday",
    "filter[created_at][]=2026-01-01T00:00:00%2B02:00", "filter[source_id]=1",
    "filter[actor_id]=abc", "page[size]=5&sort=id", "per_page=x", "sort_order=up",
])
def test_malformed_query_values_are_400_json(shared: Sandbox, http, query: str) -> None:
    response = http.get(f"{shared.base_url}{LIST}?{query}", timeout=5)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "description"}


def test_non_numeric_id_is_400(shared: Sandbox, http) -> None:
    response = http.get(f"{shared.base_url}{LIST}/abc")
    assert response.status_code == 400 and "error" in response.json()


# ----------------------------------------------------------------- offset pagination
@pytest.mark.parametrize("offset_count", [False, True])
def test_offset_mode_carries_count_only_when_configured(sandbox_factory, http, offset_count: bool) -> None:
    sb = sandbox_factory(records=1_500, seed=7, offset_count=offset_count)
    records = sb.records()
    url = f"{sb.base_url}{LIST}"
    body = http.get(url, params={"per_page": 50, "page": 2}).json()
    assert set(body) == {"audit_logs", "next_page", "previous_page"} | ({"count"} if offset_count else set())
    assert body.get("count", len(records)) == len(records)
    assert body["audit_logs"] == records[::-1][50:100]
    assert "page=3" in body["next_page"] and "page=1" in body["previous_page"]
    asc = http.get(url, params={"per_page": 10, "sort_by": "created_at",
                                "sort_order": "asc", "filter[action]": "login"}).json()
    logins = [r for r in records if r["action"] == "login"]
    assert asc.get("count", len(logins)) == len(logins) and asc["audit_logs"] == logins[:10]
    assert asc["previous_page"] is None
    both = http.get(url, params={"per_page": 5, "filter[action]": "update",
                                 "filter[source_type][]": ["rule", "user"]}).json()
    assert both.get("count", -1) == (sum(1 for r in records if r["action"] == "update"
                                         and r["source_type"] in ("rule", "user")) if offset_count else -1)
    last_page = -(-len(records) // 100)
    tail = http.get(url, params={"per_page": 100, "page": last_page}).json()
    assert tail["next_page"] is None and len(tail["audit_logs"]) == len(records) - 100 * (last_page - 1)
    full = http.get(url, params={"per_page": 100, "page": last_page - 1}).json()
    assert full["next_page"] is not None


@pytest.mark.parametrize("params", [{"page": 101}, {"page": 101, "per_page": 100},
                                    {"page": 101, "per_page": 10}])
def test_offset_depth_limit(shared: Sandbox, http, params) -> None:
    response = http.get(f"{shared.base_url}{LIST}", params=params)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"code": "InvalidPaginationDepth", "title":
                               "Pagination requests using Offset Pagination are limited to "
                               "page 100 or up to 10000 records (page * per_page)"}]}


# ----------------------------------------------------------------- show, export, settings
def test_show_and_not_found(shared: Sandbox, http) -> None:
    record = shared.records()[42]
    response = http.get(f"{shared.base_url}{LIST}/{record['id']}")
    assert response.status_code == 200 and response.json() == {"audit_log": record}
    missing = http.get(f"{shared.base_url}{LIST}/1234567890123")
    assert missing.status_code == 404
    assert missing.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_export_then_second_within_a_minute_is_429(sandbox: Sandbox, http) -> None:
    url = f"{sandbox.base_url}{LIST}/export?filter[action]=update"
    first = http.post(url)
    assert first.status_code == 202 and first.content == b"null"
    second = http.post(url)
    assert second.status_code == 429
    header = second.headers["Zendesk-RateLimit-audit-logs-export"]
    assert header.startswith("total=1; remaining=0; resets=")
    assert 1 <= int(header.rsplit("=", 1)[1]) <= 60
    assert second.json() == {"error": "TooManyRequests", "description": "Rate limit for Audit "
                             "log CSV Export exceeded. Please wait 1 minute and try again."}


def test_account_settings_time_zones(sandbox_factory, http) -> None:
    sb = sandbox_factory(records=10, time_zone="Tokyo", iana_time_zone="Asia/Tokyo")
    body = http.get(f"{sb.base_url}/api/v2/account/settings").json()
    assert body["settings"]["localization"]["time_zone"] == "Tokyo"
    assert body["settings"]["localization"]["iana_time_zone"] == "Asia/Tokyo"
    assert requests.get(f"{sb.base_url}/api/v2/account/settings").status_code == 401


def _oauth_token(base_url: str, scope: str) -> str:
    return requests.post(f"{base_url}/oauth/tokens", json={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "sandbox-secret", "scope": scope}).json()["access_token"]


def test_account_settings_need_the_settings_scope_from_oauth_tokens_only(sandbox_factory, http) -> None:
    sb = sandbox_factory(records=10)
    url = f"{sb.base_url}/api/v2/account/settings"
    narrow = {"Authorization": f"Bearer {_oauth_token(sb.base_url, 'auditlogs:read')}"}
    refused = requests.get(url, headers=narrow)
    assert refused.status_code == 403
    assert refused.json() == {"error": "Forbidden",
                              "description": "You are missing the following required scopes: read"}
    assert requests.get(f"{sb.base_url}{LIST}", headers=narrow).status_code == 200
    wide = {"Authorization": f"Bearer {_oauth_token(sb.base_url, 'auditlogs:read read')}"}
    assert requests.get(url, headers=wide).status_code == 200
    assert http.get(url).status_code == 200  # API tokens carry no scopes
    custom = sandbox_factory(records=10, settings_scope="settings:read")
    answer = requests.get(f"{custom.base_url}/api/v2/account/settings",
                          headers={"Authorization": f"Bearer {_oauth_token(custom.base_url, 'auditlogs:read')}"})
    assert answer.status_code == 403 and answer.json()["description"].endswith(": settings:read")
    open_to_all = sandbox_factory(records=10, settings_scope="")
    assert requests.get(f"{open_to_all.base_url}/api/v2/account/settings", headers={
        "Authorization": f"Bearer {_oauth_token(open_to_all.base_url, 'auditlogs:read')}"}).status_code == 200


def test_account_settings_forbidden_to_everyone_is_the_plan_403(sandbox_factory, http) -> None:
    sb = sandbox_factory(records=10, settings_forbidden=True)
    refused = http.get(f"{sb.base_url}/api/v2/account/settings")
    assert refused.status_code == 403 and refused.json() == PLAN_BODY
    assert http.get(f"{sb.base_url}{LIST}").status_code == 200


# ----------------------------------------------------------------- rate limit, faults
def test_rate_limit_headers_and_429(sandbox_factory, http) -> None:
    sb = sandbox_factory(records=10, rate_limit=3, rate_window=30)
    answers = [http.get(f"{sb.base_url}{LIST}") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    for answer in answers:
        for name in ("X-Rate-Limit", "X-Rate-Limit-Remaining", "ratelimit-limit",
                     "ratelimit-remaining", "ratelimit-reset"):
            assert name in answer.headers
    assert answers[0].headers["X-Rate-Limit"] == "3"
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert limited.headers["Content-Type"].startswith("text/plain")
    assert limited.text == "Number of allowed API requests per minute exceeded"
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert sb.counters()["rate_limited"] == 1
    sb.set_faults(rate_limit=None)
    free = http.get(f"{sb.base_url}{LIST}")
    assert free.status_code == 200 and free.headers["X-Rate-Limit"] == "1000000"


def test_rate_limit_window_resets(sandbox_factory, http) -> None:
    sb = sandbox_factory(records=10, rate_limit=1, rate_window=0.5)
    assert http.get(f"{sb.base_url}{LIST}").status_code == 200
    assert http.get(f"{sb.base_url}{LIST}").status_code == 429
    time.sleep(0.6)
    assert http.get(f"{sb.base_url}{LIST}").status_code == 200


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "reset", "truncated"])
def test_each_fault_kind_reaches_the_client(sandbox_factory, kind: str) -> None:
    sb = sandbox_factory(records=50, fault_rate=1.0, fault_kinds=(kind,))
    url = f"{sb.base_url}{LIST}?page[size]=10"
    if kind in ("reset", "truncated"):
        with pytest.raises(requests.exceptions.ConnectionError
                           if kind == "reset" else requests.exceptions.RequestException):
            requests.get(url, auth=BASIC, timeout=5).json()
    else:
        response = requests.get(url, auth=BASIC, timeout=5)
        assert response.status_code == int(kind)
        if kind == "429":
            assert "Retry-After" not in response.headers
            assert response.headers["Content-Type"].startswith("text/plain")
    counters = sb.counters()
    assert counters["faults"] == {kind: 1}
    assert counters["records_served"] == 0 and counters["list_requests"] == 1
    sb.set_faults(fault_rate=0)
    assert requests.get(url, auth=BASIC, timeout=5).status_code == 200


def test_faults_are_seeded_and_partial(sandbox_factory, http) -> None:
    def statuses(seed: int) -> list[int]:
        sb = sandbox_factory(records=10, fault_rate=0.5, fault_seed=seed,
                             fault_kinds=("500", "503"))
        return [http.get(f"{sb.base_url}{LIST}").status_code for _ in range(30)]

    first = statuses(3)
    assert first == statuses(3)
    assert {200, 500, 503} <= set(first)


def test_latency(sandbox_factory, http) -> None:
    sb = sandbox_factory(records=10, latency_ms=150)
    started = time.perf_counter()
    http.get(f"{sb.base_url}{LIST}")
    assert time.perf_counter() - started >= 0.15
    sb.set_faults(latency_ms=0)
    started = time.perf_counter()
    http.get(f"{sb.base_url}{LIST}")
    assert time.perf_counter() - started < 0.15


# ----------------------------------------------------------------- counters
def test_counters(sandbox: Sandbox, http) -> None:
    http.get(f"{sandbox.base_url}{LIST}?page[size]=7")
    http.get(f"{sandbox.base_url}{LIST}.json?page[size]=3")
    http.get(f"{sandbox.base_url}/api/v2/account/settings")
    counters = sandbox.counters()
    assert counters["requests"] == {LIST: 1, f"{LIST}.json": 1, "/api/v2/account/settings": 1}
    assert counters["requests_total"] == 3 and counters["list_requests"] == 2
    assert counters["records_served"] == 10
    assert counters["rate_limited"] == 0 and counters["faults"] == {}
    sandbox.reset_counters()
    assert sandbox.counters()["requests_total"] == 0


# ----------------------------------------------------------------- live activity
def test_append_now_is_visible_at_the_end(sandbox: Sandbox, http) -> None:
    before = walk(http, sandbox.base_url, sort="created_at")
    added = sandbox.append(3, action="update", actor_id=123)
    assert all(len(str(r["id"])) == 13 and r["action"] == "update" and r["actor_id"] == 123
               for r in added)
    assert len({r["id"] for r in added} | sandbox.ids()) == len(sandbox.ids())
    after = walk(http, sandbox.base_url, sort="created_at")
    assert after[:len(before)] == before and after[len(before):] == added
    assert sandbox.records() == after


def test_late_record_lands_in_the_middle_without_breaking_cursors(sandbox: Sandbox,
                                                                  http) -> None:
    url = f"{sandbox.base_url}{LIST}"
    records = sandbox.records()
    old = records[500]["created_at"]
    first = http.get(url, params={"page[size]": 100, "sort": "created_at"}).json()
    cursor = first["meta"]["after_cursor"]
    [late] = sandbox.append(created_at=datetime.fromisoformat(old.replace("Z", "+00:00")),
                            late=True)
    assert late["created_at"] == old
    rest = walk(http, sandbox.base_url, sort="created_at", **{"page[after]": cursor})
    served = first["audit_logs"] + rest
    assert [r["id"] for r in served] == [r["id"] for r in sandbox.records()]
    assert late in served and len(served) == len(records) + 1
    assert sandbox.counters()["appended_late"] == 1


def test_admin_interface(sandbox: Sandbox) -> None:
    admin = f"{sandbox.base_url}/_sandbox"
    added = requests.post(f"{admin}/records", json={
        "count": 2, "created_at": "2026-03-01T10:00:00Z", "late": True,
        "fields": {"action": "destroy"}}).json()["records"]
    assert [r["created_at"] for r in added] == ["2026-03-01T10:00:00Z"] * 2
    ids = requests.get(f"{admin}/ids").json()
    assert {r["id"] for r in added} <= set(ids) and len(ids) == 2_002
    assert requests.post(f"{admin}/faults", json={"rate_limit": 1}).status_code == 200
    requests.get(f"{sandbox.base_url}{LIST}", auth=BASIC)
    assert requests.get(f"{sandbox.base_url}{LIST}", auth=BASIC).status_code == 429
    counters = requests.get(f"{admin}/counters").json()
    assert counters["rate_limited"] == 1 and counters["requests"] == {LIST: 2}
    assert requests.post(f"{admin}/faults", json={"rate_limit": None}).status_code == 200
    assert requests.post(f"{admin}/reset_counters").status_code == 200
    assert requests.get(f"{admin}/counters").json()["requests_total"] == 0
    token = requests.post(f"{sandbox.base_url}/oauth/tokens", json={
        "grant_type": "client_credentials", "client_id": "sandbox-client",
        "client_secret": "sandbox-secret"}).json()["access_token"]
    assert requests.post(f"{admin}/expire_tokens").status_code == 200
    assert requests.get(f"{sandbox.base_url}{LIST}",
                        headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert requests.post(f"{admin}/faults", json={"fault_kinds": ["nope"]}).status_code == 400


# ----------------------------------------------------------------- data
def test_same_seed_same_records() -> None:
    first = RecordStore(SandboxConfig(records=3_000, seed=5))
    second = RecordStore(SandboxConfig(records=3_000, seed=5))
    other = RecordStore(SandboxConfig(records=3_000, seed=6))
    dump = lambda store: [store.record(s) for s in store.all_seqs()]
    assert dump(first) == dump(second)
    assert dump(first) != dump(other)
    assert [first.blob(s) for s in first.all_seqs()] == [second.blob(s)
                                                          for s in second.all_seqs()]


def test_data_is_realistic() -> None:
    store = RecordStore(SandboxConfig(records=20_000, seed=42))
    records = [store.record(s) for s in store.all_seqs()]
    assert all(set(r) == FIELDS for r in records)
    assert all(len(str(r["id"])) == 13 for r in records)
    assert len({r["id"] for r in records}) == len(records)
    assert records[-1]["created_at"] <= "2026-11-01T00:00:00Z"
    system = [r for r in records if r["actor_id"] == -1]
    assert 0.05 < len(system) / len(records) < 0.2
    assert all(r["actor_name"] == "Zendesk" and r["ip_address"] is None
               and r["change_description"] == "" for r in system)
    per_second = Counter(r["created_at"] for r in records)
    in_bursts = sum(n for n in per_second.values() if n > 1)
    assert in_bursts / len(records) >= 0.04
    non_monotonic = any(a["created_at"] == b["created_at"] and a["id"] > b["id"]
                        for a, b in itertools.pairwise(records))
    assert non_monotonic
    paris = ZoneInfo("Europe/Paris")
    humans = [datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")).astimezone(paris)
              for r in records if r["actor_id"] != -1]
    office = sum(1 for t in humans if t.weekday() < 5 and 9 <= t.hour < 18)
    assert 0.8 < office / len(humans) < 0.97
    labels = {r["source_label"] for r in records}
    descriptions = {r["change_description"] for r in records}
    names = {r["actor_name"] for r in records}
    assert {"Zoë Ångström", "山田 花子", "Łukasz Żółw"} <= names
    assert any(label.startswith(("=", "+", "@")) or ": =" in label for label in labels)
    assert any("\n" in label for label in labels) and any('"' in lab for lab in labels)
    assert any("," in label for label in labels)
    assert any("&amp;gt;" in d for d in descriptions)
    assert any(d.startswith("Role changed from") for d in descriptions)
    assert {r["action"] for r in records} == {"create", "update", "destroy", "login",
                                              "exported"}
    labels_by_action = {(r["action"], r["action_label"]) for r in records}
    assert labels_by_action == {("create", "Created"), ("update", "Updated"),
                                ("destroy", "Deleted"), ("login", "Signed in"),
                                ("exported", "Exported")}
    assert {"rule", "user", "api_token", "apitoken", "account_setting", "attachment", "ticket",
            "account", "zendesk/app_market/app",
            "zendesk/business_hours/workweek"} <= {r["source_type"] for r in records}
    tokens = {r["source_label"]: r["source_type"] for r in records
              if r["source_type"] in ("api_token", "apitoken")}
    assert all(label.startswith("API token: ") for label in tokens)
    assert len(tokens) == 4 and set(tokens.values()) == {"api_token", "apitoken"}
    sign_ins = [r for r in records if r["action"] == "login"]
    assert sign_ins and all(
        r["source_type"] == "user" and r["source_id"] == r["actor_id"]
        and r["source_label"] == f"Team member: {r['actor_name']}" for r in sign_ins)
    assert {r["change_description"] for r in sign_ins} == {
        "Successful sign-in using Zendesk", "Successful sign-in using Google",
        "Successful sign-in using JWT"}
    tickets = [r for r in records if r["source_type"] == "ticket"]
    assert all(r["source_label"] == f"Ticket: #{r['source_id']}" and r["action"] == "destroy"
               for r in tickets)
    assert all(r["url"] == f"https://acme.zendesk.com/api/v2/audit_logs/{r['id']}.json"
               for r in records)


def test_pages_do_not_scan_the_records() -> None:
    """At 200k records a filtered page costs well under a millisecond of server work."""
    store = RecordStore(SandboxConfig(records=200_000, seed=1))
    start = int(datetime(2026, 5, 1, tzinfo=timezone.utc).timestamp()) << SEQ_BITS
    end = int(datetime(2026, 5, 8, tzinfo=timezone.utc).timestamp()) << SEQ_BITS
    cases = [({}, start, end), ({"action": {"update"}}, start, 1 << 62),
             ({"action": {"update", "create"}, "source_type": {"rule"}}, 0, 1 << 62)]
    for filters, low, high in cases:
        started = time.perf_counter()
        for _ in range(20):
            keys = [k for _, k in zip(range(101), store.stream(filters, low, high, True))]
            b"".join(store.blob(k & ((1 << SEQ_BITS) - 1)) for k in keys[:100])
            store.count(filters, low, high) if len(filters) < 2 else None
        assert (time.perf_counter() - started) / 20 < 0.005, filters


# ----------------------------------------------------------------- fixtures and CLI
def test_fixtures(sandbox: Sandbox, sandbox_factory) -> None:
    assert len(sandbox.ids()) == 2_000 and sandbox.base_url.startswith("http://127.0.0.1:")
    small = sandbox_factory(records=5, seed=9)
    assert len(small.records()) == 5 and small.base_url != sandbox.base_url


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_base_url_and_exits_0_on_signal(sig: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "zendesk_audit", "sandbox", "--port", "0", "--records", "100", "--offset-count", "on"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        response = requests.get(f"{base_url}{LIST}", auth=BASIC, timeout=5)
        assert response.status_code == 200 and len(response.json()["audit_logs"]) == 100
        assert response.json()["count"] == 100  # --offset-count on
        process.send_signal(sig)
        assert process.wait(timeout=10) == 0
        rest = process.stdout.read()
        assert TOKEN in rest and "SOURCES__ZENDESK_AUDIT__BASE_URL" in rest
    finally:
        if process.poll() is None:
            process.kill()


def test_cli_options_for_plan_scopes_and_missing_account() -> None:
    def serve(*options: str) -> tuple[subprocess.Popen, str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "zendesk_audit", "sandbox", "--records", "10", *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return process, process.stdout.readline().strip()

    process, base_url = serve("--plan", "professional", "--non-enterprise-answer", "404",
                              "--client-scopes", "auditlogs:read write", "--export-scope", "write")
    other, other_url = serve("--no-account")
    try:
        assert requests.get(f"{base_url}{LIST}", auth=BASIC, timeout=5).json()["error"] == "InvalidEndpoint"
        assert _grant(base_url, scope="read").json()["error"] == "invalid_scope"
        token = _grant(base_url, scope="auditlogs:read").json()["access_token"]
        refused = requests.post(f"{base_url}{LIST}/export", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert refused.status_code == 403 and refused.json()["description"].endswith(": write")
        assert requests.get(f"{other_url}/api/v2/users/me", timeout=5).status_code == 404
        for running in (process, other):
            running.send_signal(signal.SIGTERM)
            assert running.wait(timeout=10) == 0
        assert "audit logs answer 404" in process.stderr.read()
        assert "no account" in other.stderr.read()
    finally:
        for running in (process, other):
            if running.poll() is None:
                running.kill()


def test_cli_last_page_cursor_option_reaches_the_pages() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "zendesk_audit", "sandbox", "--port", "0", "--records", "5",
         "--last-page-cursor", "absent"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base_url = process.stdout.readline().strip()
        body = requests.get(f"{base_url}{LIST}?page[size]=100", auth=BASIC, timeout=5).json()
        assert len(body["audit_logs"]) == 5 and body["meta"]["has_more"] is False
        assert "after_cursor" not in body["meta"] and "next" not in body["links"]
        assert body["meta"]["before_cursor"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_cli_help_ends_with_an_example() -> None:
    from click.testing import CliRunner

    from zendesk_sandbox.command import sandbox_command

    result = CliRunner().invoke(sandbox_command, ["--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "zendesk-audit sandbox --port" in result.output
    for option in ("--rate-limit", "--fault-rate", "--plan", "--latency-ms", "--api-token",
                   "--last-page-cursor", "--offset-count", "--created-at-bounds"):
        assert option in result.output


def test_history_end_follows_config() -> None:
    end = datetime(2025, 1, 1, tzinfo=timezone.utc)
    store = RecordStore(SandboxConfig(records=500, history_end=end, history_days=30))
    times = [store.record(s)["created_at"] for s in store.all_seqs()]
    assert times[0] >= (end - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert times[-1] <= "2025-01-01T00:00:00Z"


def test_append_keeps_unknown_fields_and_odd_values(sandbox: Sandbox, http) -> None:
    [added] = sandbox.append(created_at=datetime(2027, 1, 1, tzinfo=timezone.utc),
                             zendesk_new_field="hello", actor_id="not-a-number")
    body = http.get(f"{sandbox.base_url}{LIST}?page[size]=1").json()
    assert body["audit_logs"] == [added]
    assert added["zendesk_new_field"] == "hello" and added["actor_id"] == "not-a-number"
    assert set(added) == FIELDS | {"zendesk_new_field"}


def test_raw_records_are_served_byte_for_byte_where_they_are_placed(sandbox: Sandbox, http) -> None:
    """What no generator makes (an id past int64, two names for one column, the same id twice, a
    created_at unlike where the record is served) reaches the client exactly as written."""
    raw = ('{"id": 18446744073709551615, "created_at": "9999-12-31T23:59:59Z", "actor_name": "a",'
           ' "actorName": "b", "deep": [[[[1]]]]}')
    answer = requests.post(f"{sandbox.base_url}/_sandbox/records",
                           json={"raw": [raw, raw], "created_at": "2027-01-01T00:00:00Z"})
    assert answer.json() == {"added": 2}
    window = {"filter[created_at][]": ["2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z"]}
    body = http.get(f"{sandbox.base_url}{LIST}", params={"page[size]": 100, **window}).text
    assert body.count(raw) == 2 and '"audit_logs":[' + raw + "," + raw + "]" in body
    assert http.get(f"{sandbox.base_url}{LIST}", params={"page[size]": 100}).text.count(raw) == 2

    [placed] = [sandbox.append_raw({"id": 7, "created_at": "2027-02-01T00:00:00Z", "source_id": 2**64 - 1})]
    assert placed["source_id"] == 2**64 - 1
    show = http.get(f"{sandbox.base_url}{LIST}/7.json").text
    assert show == '{"audit_log":{"id": 7, "created_at": "2027-02-01T00:00:00Z", "source_id": 18446744073709551615}}'
    assert requests.post(f"{sandbox.base_url}/_sandbox/records", json={"raw": "{not json"}).status_code == 400
    assert requests.post(f"{sandbox.base_url}/_sandbox/records", json={"raw": "[1]"}).status_code == 400
