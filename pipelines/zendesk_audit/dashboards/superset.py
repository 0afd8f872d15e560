"""The Superset dashboard bundle, pointed at the team's destination, and its import through Superset's REST API.

The bundle is the folder `superset_bundle/` beside this module, in Superset's own export format
(metadata.yaml, databases/, datasets/, charts/, dashboards/). Its database entry names a placeholder
DuckDB file and its datasets the schema `zendesk_audit_models`; `bundle_zip` writes the team's
connection (the DuckDB file, or PostgreSQL with its password masked) and models schema into a copy.

Why the import goes to `/api/v1/assets/import/` and not `/api/v1/dashboard/import/`: Superset's
dashboard import overwrites the dashboard only, never the database connection, the datasets or the
charts it brings (they are imported with `overwrite=False`), so a second run would keep a stale
connection or chart. The assets import overwrites every object it carries, matched by the uuids in the
bundle, so a re-run updates in place and never duplicates. `--out` writes the same files as a
Dashboard bundle, the kind Superset's UI imports (Dashboards > Import).

DuckDB: Superset opens the file read-only (`connect_args: {"read_only": true}`) and, as Superset always
does for a query, through a connection pool that keeps nothing open (NullPool): a query holds DuckDB's
shared lock for its milliseconds, and a load waits for it (`--wait-for-lock`). While a load writes,
a chart's query meets the writer's lock and shows an error until the next refresh; docs/dashboards.md
has the measurements. PostgreSQL has no such limit.

Only `requests` here: Superset is never imported (it runs in its own environment, with its own pins).
"""
from __future__ import annotations

import copy
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from zendesk_audit.errors import ConfigurationError, DashboardImportError, first_line

BUNDLE_DIR = Path(__file__).resolve().parent / "superset_bundle"
DATABASE_FILE = "databases/zendesk_audit.yaml"
BUNDLE_ROOT = "zendesk_audit_dashboard"
DASHBOARD_SLUG = "zendesk-audit"
# Superset's own mask for a password in an exported connection; the real one travels in `passwords`.
PASSWORD_MASK = "XXXXXXXXXX"
CONFIG_SECTION = "dashboards.superset"
TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Connection:
    """What Superset connects to: the URI with any password masked, the password apart, the models' schema."""

    kind: str
    sqlalchemy_uri: str
    schema: str
    password: str | None = field(default=None, repr=False)
    connect_args: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> str:
        """The connection as a line may show it (never the password)."""
        return f"{self.sqlalchemy_uri}, schema {self.schema}"


def duckdb_connection(duckdb_path: str, models_schema: str) -> Connection:
    """The DuckDB file, by its absolute path, opened read-only by duckdb-engine.

    Raises:
        ConfigurationError: the file does not exist yet (nothing loaded).
    """
    path = Path(duckdb_path).expanduser().resolve()
    if not path.is_file():
        raise ConfigurationError(
            f"{duckdb_path} does not exist: load it first (zendesk-audit load), or pass --duckdb-path"
        )
    return Connection("duckdb", f"duckdb:///{path}", models_schema, connect_args={"read_only": True})


def postgres_connection(credentials: Any, models_schema: str) -> Connection:
    """PostgreSQL from dlt's credentials; the password goes apart, masked in the URI as Superset exports it."""
    password = str(credentials.password) if credentials.password else None
    user = quote(str(credentials.username or ""), safe="")
    auth = f"{user}:{PASSWORD_MASK}@" if password else f"{user}@"
    port = int(credentials.port or 5432)
    uri = f"postgresql://{auth}{credentials.host}:{port}/{quote(str(credentials.database), safe='')}"
    sslmode = (getattr(credentials, "query", None) or {}).get("sslmode")
    if sslmode:
        uri += f"?sslmode={quote(str(sslmode), safe='')}"
    return Connection("postgres", uri, models_schema, password=password)


def connection_for(destination: str, dataset: str, duckdb_path: str) -> Connection:
    """The team's destination as Superset reaches it: DuckDB or PostgreSQL, from the same settings as `load`.

    Raises:
        ConfigurationError: another destination, or PostgreSQL credentials missing from dlt's config.
    """
    from zendesk_audit.models.build import models_schema_name

    schema = models_schema_name(dataset)
    if destination == "duckdb":
        return duckdb_connection(duckdb_path, schema)
    if destination == "postgres":
        from dlt.common.configuration.exceptions import ConfigurationException

        from zendesk_audit.errors import missing_setting
        from zendesk_audit.load.destination_config import partial_configuration
        from zendesk_audit.load.pipeline import create_destination

        try:
            credentials = partial_configuration(create_destination("postgres")).credentials
        except ConfigurationException as exc:
            raise missing_setting(exc, "PostgreSQL: ") from None
        if credentials is None or not getattr(credentials, "host", None):
            raise ConfigurationError(
                "PostgreSQL: no credentials: set destination.postgres.credentials in .dlt/secrets.toml "
                "or DESTINATION__POSTGRES__CREDENTIALS"
            )
        return postgres_connection(credentials, schema)
    raise ConfigurationError(
        f"dashboards superset connects Superset to duckdb or postgres, not {destination}: "
        "add the warehouse in Superset yourself and import the bundle (--out) against it"
    )


# ----------------------------------------------------------------------------- the bundle
def bundle_documents(connection: Connection) -> dict[str, dict[str, Any]]:
    """Every YAML document of the bundle (path inside the bundle -> document), pointed at `connection`."""
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(BUNDLE_DIR.rglob("*.yaml")):
        documents[path.relative_to(BUNDLE_DIR).as_posix()] = yaml.safe_load(path.read_text(encoding="utf-8"))
    database = copy.deepcopy(documents[DATABASE_FILE])
    database["sqlalchemy_uri"] = connection.sqlalchemy_uri
    database["extra"].setdefault("engine_params", {})["connect_args"] = dict(connection.connect_args)
    documents[DATABASE_FILE] = database
    for name, document in documents.items():
        if name.startswith("datasets/"):
            document["schema"] = connection.schema
    return documents


def bundle_zip(connection: Connection, kind: str = "Dashboard") -> bytes:
    """The bundle as the zip Superset imports: `Dashboard` for the UI's import, `assets` for the API's.

    No secret inside: a PostgreSQL password stays masked (Superset's UI asks for it at import).
    """
    documents = bundle_documents(connection)
    documents["metadata.yaml"] = {**documents["metadata.yaml"], "type": kind}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, document in documents.items():
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            archive.writestr(f"{BUNDLE_ROOT}/{name}", text)
    return buffer.getvalue()


def write_bundle(path: str, connection: Connection) -> int:
    """Write the Dashboard bundle to `path`; returns its size in bytes."""
    data = bundle_zip(connection)
    Path(path).write_bytes(data)
    return len(data)


# ----------------------------------------------------------------------------- the import
@dataclass(frozen=True)
class SupersetLogin:
    url: str
    username: str
    password: str = field(repr=False)


def superset_login(url: str | None = None, username: str | None = None) -> SupersetLogin:
    """Superset's address and login from the options, dlt's config (`[dashboards.superset]`) or the environment.

    The password only from secrets.toml or DASHBOARDS__SUPERSET__PASSWORD, never from the command line.

    Raises:
        ConfigurationError: a setting is missing.
    """
    import dlt

    url = url or dlt.config.get(f"{CONFIG_SECTION}.url")
    username = username or dlt.config.get(f"{CONFIG_SECTION}.username")
    password = dlt.secrets.get(f"{CONFIG_SECTION}.password")
    for value, key in ((url, "url"), (username, "username"), (password, "password")):
        if not value:
            where = "secrets.toml" if key == "password" else "config.toml"
            raise ConfigurationError(
                f"Superset's {key} is not set: [dashboards.superset] {key} in .dlt/{where}, or "
                f"DASHBOARDS__SUPERSET__{key.upper()}" + ("" if key == "password" else f" (or --{key})")
            )
    if not str(url).startswith(("http://", "https://")):
        raise ConfigurationError(f"Superset's url must start with http:// or https://, not {first_line(ValueError(url))}")
    return SupersetLogin(str(url).rstrip("/"), str(username), str(password))


@dataclass(frozen=True)
class ImportResult:
    dashboard_url: str
    connection: Connection
    charts: int

    def summary_line(self) -> str:
        return (
            f"imported the dashboard 'Zendesk audit log' ({self.charts} charts) into {self.dashboard_url}; "
            f"database 'Zendesk audit': {self.connection.shown()}"
        )


def _problem(response: Any, secrets: tuple[str | None, ...]) -> str:
    """Superset's answer as one line: its `message` (or first error), without any secret."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    message: Any = body.get("message") or body.get("msg") if isinstance(body, dict) else None
    if isinstance(body, dict) and body.get("errors"):
        first = body["errors"][0]
        message = first.get("message", first) if isinstance(first, dict) else first
    text = str(message or response.reason or f"HTTP {response.status_code}")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return f"HTTP {response.status_code}: {first_line(ValueError(text))}"


def import_bundle(login: SupersetLogin, connection: Connection) -> ImportResult:
    """Log in (access token and CSRF token), import the bundle with overwrite, find the dashboard.

    Raises:
        ConfigurationError: Superset refused the login (exit 2).
        DashboardImportError: Superset is unreachable or refused the bundle.
    """
    import requests

    secrets = (login.password, connection.password)
    session = requests.Session()
    try:
        answer = session.post(
            f"{login.url}/api/v1/security/login",
            json={"username": login.username, "password": login.password, "provider": "db", "refresh": False},
            timeout=TIMEOUT_SECONDS,
        )
        if answer.status_code in (400, 401, 403):
            raise ConfigurationError(
                f"Superset at {login.url} refused the login of {login.username} ({_problem(answer, secrets)}): "
                "check [dashboards.superset] username and password"
            )
        if answer.status_code != 200:
            raise DashboardImportError(f"Superset at {login.url} failed the login: {_problem(answer, secrets)}")
        session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        answer = session.get(f"{login.url}/api/v1/security/csrf_token/", timeout=TIMEOUT_SECONDS)
        if answer.status_code != 200:
            raise DashboardImportError(f"Superset at {login.url} gave no CSRF token: {_problem(answer, secrets)}")
        session.headers["X-CSRFToken"] = answer.json()["result"]
        session.headers["Referer"] = login.url
        passwords = {DATABASE_FILE: connection.password} if connection.password else {}
        answer = session.post(
            f"{login.url}/api/v1/assets/import/",
            files={"bundle": ("zendesk_audit_dashboard.zip", bundle_zip(connection, kind="assets"), "application/zip")},
            data={"passwords": json.dumps(passwords)},
            timeout=TIMEOUT_SECONDS,
        )
        if answer.status_code != 200:
            advice = (
                ": the user needs Superset's Admin role (or can import on ImportExportRestApi), "
                "or import the bundle in Superset's UI (--out)"
                if answer.status_code in (401, 403) else ""
            )
            raise DashboardImportError(f"Superset refused the bundle: {_problem(answer, secrets)}{advice}")
        answer = session.get(f"{login.url}/api/v1/dashboard/{DASHBOARD_SLUG}", timeout=TIMEOUT_SECONDS)
        if answer.status_code != 200:
            raise DashboardImportError(f"the imported dashboard is not in Superset: {_problem(answer, secrets)}")
        dashboard = answer.json()["result"]
        charts = session.get(f"{login.url}/api/v1/dashboard/{DASHBOARD_SLUG}/charts", timeout=TIMEOUT_SECONDS)
        count = len(charts.json().get("result", [])) if charts.status_code == 200 else 0
    except requests.RequestException as exc:
        raise DashboardImportError(
            f"cannot reach Superset at {login.url}: {type(exc).__name__}; is it running?"
        ) from None
    finally:
        session.close()
    return ImportResult(f"{login.url}{dashboard.get('url') or '/superset/dashboard/' + DASHBOARD_SLUG + '/'}",
                        connection, count)

