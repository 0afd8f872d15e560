"""Shared fixtures. dlt's state goes to a temporary folder so tests never touch ~/.dlt."""
from __future__ import annotations

import os
import tempfile

# Must happen before dlt is imported anywhere: dlt reads DLT_DATA_DIR when it builds pipelines.
os.environ.setdefault("DLT_DATA_DIR", tempfile.mkdtemp(prefix="zendesk-audit-dlt-"))
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import shutil  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any

import duckdb  # noqa: E402
import pytest  # noqa: E402

from zendesk_audit.load.api_load import LoadResult, load_account  # noqa: E402
from zendesk_audit.settings import SQL_DIR  # noqa: E402
from zendesk_audit.zendesk_api.credentials import ZendeskCredentials  # noqa: E402

# The sandbox fixtures (`sandbox`, `sandbox_factory`), opted in as a user's conftest.py would: the
# package registers no pytest plugin of its own.
pytest_plugins = ["zendesk_sandbox.pytest_plugin"]

# The machine's server uses trust auth: the password is ignored, but dlt insists on one.
POSTGRES_URL = os.environ.get("ZENDESK_AUDIT_TEST_POSTGRES", "postgresql://postgres:postgres@127.0.0.1:5432/test")


def api_token_credentials(sandbox: Any) -> ZendeskCredentials:
    return ZendeskCredentials(email=sandbox.config.email, api_token=sandbox.config.api_token)


def load_sandbox(
    sandbox: Any,
    duckdb_path: Path | None = None,
    destination: str = "duckdb",
    dataset: str = "zendesk_audit",
    credentials: ZendeskCredentials | None = None,
    **source_args: Any,
) -> LoadResult:
    """One `zendesk-audit load` against the sandbox, in-process."""
    args = {
        "subdomain": sandbox.config.subdomain,
        "base_url": sandbox.base_url,
        "credentials": credentials or api_token_credentials(sandbox),
        **source_args,
    }
    return load_account(args, destination=destination, dataset_name=dataset, duckdb_path=str(duckdb_path or "unused.duckdb"))


def duckdb_ids(path: Path, dataset: str = "zendesk_audit") -> list[int]:
    """Every loaded id, duplicates kept, so tests can see both loss and duplication."""
    with duckdb.connect(str(path), read_only=True) as connection:
        return [row[0] for row in connection.execute(f"select id from {dataset}.audit_logs").fetchall()]


@pytest.fixture(autouse=True)
def _forget_which_accounts_answer_count() -> Iterator[None]:
    """Sandboxes reuse loopback ports: a port's last sandbox must not decide whether the next is asked for `count`."""
    from zendesk_audit.zendesk_api.client import _COUNT_ANSWERED

    _COUNT_ANSWERED.clear()
    yield
    _COUNT_ANSWERED.clear()


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "zendesk.duckdb"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then closed: connections to it are refused until a server takes it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh dataset name on the machine's PostgreSQL, dropped afterwards; skips without a server."""
    if "ZENDESK_AUDIT_TEST_POSTGRES" not in os.environ and not _postgres_reachable():
        pytest.skip(
            "PostgreSQL is not reachable at 127.0.0.1:5432: start it (pg_ctlcluster <version> main start) "
            "or set ZENDESK_AUDIT_TEST_POSTGRES=postgresql://user@host:port/db to run the warehouse tests"
        )
    import psycopg2

    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES_URL)
    dataset = f"zt_{uuid.uuid4().hex[:10]}"
    yield dataset
    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        for schema in (dataset, f"{dataset}_models", f"{dataset}_staging"):
            cursor.execute(f'drop schema if exists "{schema}" cascade')


def postgres_rows(dataset: str, query: str) -> list[tuple[Any, ...]]:
    import psycopg2

    with psycopg2.connect(POSTGRES_URL) as connection, connection.cursor() as cursor:
        cursor.execute(query.format(dataset=dataset))
        return cursor.fetchall()


def configure_accounts(monkeypatch: pytest.MonkeyPatch, folder: Path, *sandboxes: Any, oauth: bool = True) -> None:
    """Several accounts in the environment, one sandbox each, as `load --subdomain A --subdomain B` reads them."""
    monkeypatch.chdir(folder)
    for key in [key for key in os.environ if key.startswith("SOURCES__")]:
        monkeypatch.delenv(key)
    for sandbox in sandboxes:
        prefix = f"SOURCES__ZENDESK_AUDIT__ACCOUNTS__{sandbox.config.subdomain.upper()}__"
        monkeypatch.setenv(prefix + "BASE_URL", sandbox.base_url)
        if oauth:
            monkeypatch.setenv(prefix + "CREDENTIALS__CLIENT_ID", sandbox.config.client_id)
            monkeypatch.setenv(prefix + "CREDENTIALS__CLIENT_SECRET", sandbox.config.client_secret)
        else:
            monkeypatch.setenv(prefix + "CREDENTIALS__EMAIL", sandbox.config.email)
            monkeypatch.setenv(prefix + "CREDENTIALS__API_TOKEN", sandbox.config.api_token)


def bad_seeds_copy(folder: Path) -> Path:
    """A copy of the seeds with one bad row (business hours 25:00): the models build fails before it
    changes anything, after a load has committed its data."""
    seeds = folder / "bad-seeds"
    shutil.copytree(SQL_DIR / "seeds", seeds)
    hours = seeds / "business_hours.csv"
    lines = hours.read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",25:00,18:00"
    hours.write_text("\n".join(lines) + "\n")
    return seeds


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with long tests (marked `slow` or `wheel`) first, then the others by their number of tests.

    `make test` gives each of its workers whole files (`--dist loadfile --no-loadscope-reorder`)
    in this order: a file of a few long tests handed out last would leave one worker running it
    alone while the others have nothing left to do.
    """
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def cost(tests: list[pytest.Item]) -> tuple[int, int]:
        long = sum(1 for item in tests if item.get_closest_marker("slow") or item.get_closest_marker("wheel"))
        return (-long, -len(tests))

    items[:] = [item for tests in sorted(files.values(), key=cost) for item in tests]
