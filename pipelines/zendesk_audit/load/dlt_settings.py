"""dlt settings that our own pipelines need, given to dlt as a config provider, never through `os.environ`.

An orchestrator worker may run other dlt pipelines in the same process: writing `os.environ` would
change them too. This provider answers only while dlt resolves a setting for one of our pipelines
(dlt's section context names the pipeline), and only where nothing else answered: it is registered
after dlt's own providers, and it leaves the lookup prefixed with the pipeline's name alone, so
any value a user sets (environment, `.dlt/*.toml`, with or without the pipeline's name) wins.

- Always, for our pipelines: Arrow tables keep the lineage columns that dict rows get. dlt adds
  the load id as it extracts; the row id comes with the table (`batches.with_row_ids`), because
  dlt adding it would rewrite every Parquet file in normalize.
- While a load runs (`bounded_memory`): DuckDB's merge spills past 64 MB and may insert in any
  order; dlt deletes a package's files once loaded. What runs after the load in the same process
  (models, alerts, a report) gets DuckDB's defaults back: a report over a million rows needs more.
- Always, in every process that uses our commands or library: dlt's anonymous telemetry off
  (`runtime.dlthub_telemetry`, see `zendesk_audit.dlt_telemetry`, which also stops the tracker
  dlt started before this provider was registered). A user who sets the value wins.
- For one `--verbose` command: dlt's log level INFO. That one is asked right after the
  environment, before `.dlt/*.toml` (as an environment variable would be), so that `--verbose`
  beats a `log_level` in a config file but not `RUNTIME__LOG_LEVEL` set by the user.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from dlt.common.configuration.container import Container
from dlt.common.configuration.providers.provider import ConfigProvider, get_key_name
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from zendesk_audit.dlt_telemetry import telemetry_off_unless_asked

Settings = dict[tuple[str, ...], Any]

PIPELINE_SETTINGS: Settings = {
    ("normalize", "parquet_normalizer", "add_dlt_load_id"): True,
    ("normalize", "parquet_normalizer", "add_dlt_id"): False,
}
LOAD_MEMORY_SETTINGS: Settings = {
    ("destination", "duckdb", "credentials", "global_config"): {"memory_limit": "64MB", "preserve_insertion_order": False},
    ("load", "delete_completed_jobs"): True,
}
VERBOSE_SETTINGS: Settings = {("runtime", "log_level"): "INFO"}
PROCESS_SETTINGS: Settings = {("runtime", "dlthub_telemetry"): False}


class _OwnProvider(ConfigProvider):
    """A provider of ours: named, sectioned, never holding a secret."""

    NAME: ClassVar[str]

    @property
    def name(self) -> str:
        return self.NAME

    @property
    def supports_secrets(self) -> bool:
        return False

    @property
    def supports_sections(self) -> bool:
        return True


class ZendeskAuditSettings(_OwnProvider):
    """Answers the settings above for the pipelines that registered, and only those."""

    NAME: ClassVar[str] = "zendesk-audit defaults"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipelines: set[str] = set()
        self._loading: dict[str, int] = {}

    def get_value(self, key: str, hint: type[Any], pipeline_name: str | None, *sections: str) -> tuple[Any, str]:
        full_key = get_key_name(key, "__", *sections)
        if pipeline_name:
            # The lookup with the pipeline's name comes first across all providers: answering it
            # would win over a user's un-prefixed setting.
            return None, full_key
        path = (*sections, key)
        if path in PROCESS_SETTINGS:
            return PROCESS_SETTINGS[path], full_key
        current = Container()[ConfigSectionContext].pipeline_name
        with self._lock:
            ours, loading = current in self._pipelines, self._loading.get(current or "", 0) > 0
        if ours and path in PIPELINE_SETTINGS:
            return PIPELINE_SETTINGS[path], full_key
        if loading and path in LOAD_MEMORY_SETTINGS:
            return LOAD_MEMORY_SETTINGS[path], full_key
        return None, full_key

    def add_pipeline(self, pipeline_name: str) -> None:
        with self._lock:
            self._pipelines.add(pipeline_name)

    @contextmanager
    def loading(self, pipeline_name: str) -> Iterator[None]:
        with self._lock:
            self._loading[pipeline_name] = self._loading.get(pipeline_name, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._loading[pipeline_name] -= 1


class VerboseLogLevel(_OwnProvider):
    """dlt's log level INFO while a `--verbose` command runs (asked right after the environment)."""

    NAME: ClassVar[str] = "zendesk-audit --verbose"

    def __init__(self) -> None:
        self.active = 0

    def get_value(self, key: str, hint: type[Any], pipeline_name: str | None, *sections: str) -> tuple[Any, str]:
        full_key = get_key_name(key, "__", *sections)
        if self.active and not pipeline_name and (*sections, key) in VERBOSE_SETTINGS:
            return VERBOSE_SETTINGS[(*sections, key)], full_key
        return None, full_key


_SETTINGS = ZendeskAuditSettings()
_VERBOSE = VerboseLogLevel()


def settings() -> ZendeskAuditSettings:
    """The providers, registered with dlt's current run context (dlt makes a new one when it
    reloads its configuration, so this checks on every call)."""
    container = Container()[PluggableRunContext].providers
    if ZendeskAuditSettings.NAME not in container:
        container.add_provider(_SETTINGS)
    if VerboseLogLevel.NAME not in container:
        names = [provider.name for provider in container.providers]
        after_environment = names.index("Environment Variables") + 1 if "Environment Variables" in names else 0
        container.providers.insert(after_environment, _VERBOSE)
    telemetry_off_unless_asked()  # at once when the tracker is not running
    return _SETTINGS


def own_pipeline(pipeline_name: str) -> None:
    """Give `pipeline_name` the settings every pipeline of ours needs (see the module's docstring)."""
    settings().add_pipeline(pipeline_name)


@contextmanager
def bounded_memory(pipeline_name: str) -> Iterator[None]:
    """Keep a load's memory flat, whatever the size of the backfill; only while it loads.

    About 95 MB less at the peak than DuckDB's 256 MB in insertion order (DuckDB alone merging
    1,000,000 rows), and faster. `DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG` set by the user wins.
    """
    with settings().loading(pipeline_name):
        yield


@contextmanager
def verbose_dlt() -> Iterator[None]:
    """dlt's log lines from INFO up while the block runs (`--verbose`), unless the user set a level."""
    settings()
    _VERBOSE.active += 1
    try:
        yield
    finally:
        _VERBOSE.active -= 1
