"""pytest fixtures `sandbox` and `sandbox_factory`, for testing your own pipelines and DAGs.

Opt-in, so installing zendesk-audit changes no other project's pytest runs: add
`pytest_plugins = ["zendesk_sandbox.pytest_plugin"]` to your conftest.py, or run
`pytest -p zendesk_sandbox.pytest_plugin`. Needs pytest, which the package does not install.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from zendesk_sandbox.handle import Sandbox

FIXTURE_RECORDS = 2_000


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox with the default config at 2,000 records, stopped after the test."""
    with Sandbox(records=FIXTURE_RECORDS) as running:
        yield running


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with config overrides: `sandbox_factory(records=50, plan="professional")`.

    Every sandbox started through it stops at teardown.
    """
    started: list[Sandbox] = []

    def start(**overrides: Any) -> Sandbox:
        overrides.setdefault("records", FIXTURE_RECORDS)
        running = Sandbox(**overrides).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
