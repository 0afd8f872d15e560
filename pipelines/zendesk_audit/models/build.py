"""Build the SQL models (the dbt project `sql/`) on the pipeline's destination, and keep their ledger.

dbt does the modelling: refs, sources, vars, seeds, tests, contracts, versions, incremental marts
(`dbt_project.py` runs it in-process). What dbt does not do stays here:

- seed rows are checked with file, line and reason before dbt sees them (`seeds.py`);
- a changed model, seed, macro, setting (the time zone) or detection rule rebuilds what depends on it in full:
  dbt's incremental models would otherwise keep rows computed the old way. Each model's
  fingerprint (its SQL, config and columns, the project's macros, the settings, the accounts
  table's shape, and its parents' fingerprints) goes to the ledger `<dataset>_models.model_ledger`
  with its version and when it was built; a build compares them;
- the incremental marts re-read what the loads after the ledger's watermark touched, so a load of
  N records costs work in proportion to N; with no new load they are left alone.

Local times use, in this order: the `time_zone` argument (`--time-zone`), the config key
`models.time_zone` (env `MODELS__TIME_ZONE`), both for every account; then each account's
`accounts.iana_time_zone`, which the load chose; then UTC. `stg_audit_logs.time_zone_source` says which.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zendesk_audit.errors import ConfigurationError, ModelBuildError, SeedError, ZendeskAuditError
from zendesk_audit.models.account_zones import AccountTimeZone, account_time_zones
from zendesk_audit.models.dbt_project import (
    PROJECT_NAME,
    DbtProject,
    check_adapter,
    default_sql_dir,
    error_line,
    failure_line,
    profile_for,
)
from zendesk_audit.models.seeds import Seed, read_seeds, write_checked_seeds
from zendesk_audit.models.warehouse import open_engine, sql_literal, value_literal
from zendesk_audit.time_zones import check_time_zone

if TYPE_CHECKING:
    import dlt
    from dbt.contracts.graph.manifest import Manifest

    from zendesk_audit.models.warehouse import DltSqlEngine

__all__ = [
    "BuildResult",
    "ModelBuildError",
    "ModelStatus",
    "SeedError",
    "build_models",
    "check_models",
    "demo_lines",
    "model_status",
    "model_time_zones",
    "models_schema_name",
    "read_project_seeds",
]

LEDGER_TABLE = "model_ledger"
LEDGER_COLUMNS = (
    ("kind", "text"),
    ("model", "text"),
    ("version", "integer"),
    ("checksum", "text"),
    ("built_at", "timestamp"),
    ("refreshed_at", "timestamp"),
    ("load_id", "text"),
)
LAYERS = ("staging", "intermediate", "marts")
# The var that carries the compiled detection rules to `sensitive_changes` (detection_sql.py).
DETECTIONS_VAR = "zendesk_audit_detections"


def models_schema_name(dataset: str) -> str:
    return f"{dataset}_models"


@dataclass
class ModelOutcome:
    name: str
    layer: str
    version: int | None
    action: str  # "built", "refreshed", "unchanged"
    reason: str = ""


@dataclass
class BuildResult:
    """What a build did, for the summary line and `--json`."""

    schema: str
    time_zone: str
    seconds: float
    models: list[ModelOutcome] = field(default_factory=list)
    seeds_loaded: list[str] = field(default_factory=list)
    # True when nothing changed since the last complete build (no new load, the same project, seeds,
    # rules, settings and versions: see `unchanged_build`), so dbt was not started at all.
    dbt_skipped: bool = False

    def _named(self, action: str) -> list[str]:
        return [outcome.name for outcome in self.models if outcome.action == action]

    @property
    def built(self) -> list[str]:
        return self._named("built")

    @property
    def refreshed(self) -> list[str]:
        return self._named("refreshed")

    @property
    def unchanged(self) -> list[str]:
        return self._named("unchanged")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "built": self.built, "refreshed": self.refreshed, "unchanged": self.unchanged}

    def summary_line(self) -> str:
        seeds = f", {len(self.seeds_loaded)} seeds reloaded" if self.seeds_loaded else ""
        return (
            f"models: {len(self.built)} built, {len(self.refreshed)} refreshed, {len(self.unchanged)} unchanged{seeds} "
            f"in schema {self.schema} ({self.time_zone}) in {self.seconds:.2f} s"
        )


@dataclass
class ModelStatus:
    """One model as `zendesk-audit models status` shows it."""

    name: str
    layer: str
    file_version: int | None
    built_version: int | None
    built_at: datetime | None
    state: str  # "up to date", "not built", "outdated", "missing"
    materialized: str = "view"
    refreshed_at: datetime | None = None
    reason: str | None = None  # why it is outdated: what a build now would rebuild it for

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("built_at", "refreshed_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data


def resolve_time_zone(time_zone: str | None) -> str | None:
    """The override from the argument or the config key `models.time_zone`; None means "each account's".

    Raises:
        ConfigurationError: not a time zone that Python and the databases know (see time_zones.py).
    """
    if time_zone is not None:
        return check_time_zone(time_zone, "--time-zone")
    import dlt

    return check_time_zone(dlt.config.get("models.time_zone", str), "models.time_zone")


def _seeds_dir(project_dir: Path, seeds_dir: str | Path | None) -> Path:
    if seeds_dir is None:
        import dlt

        seeds_dir = dlt.config.get("models.seeds_dir", str)
    return Path(seeds_dir) if seeds_dir else project_dir / "seeds"


def read_project_seeds(sql_dir: str | Path | None = None, seeds_dir: str | Path | None = None) -> list[Seed]:
    """The seeds a build loads, checked row by row: `seeds_dir`, else config `models.seeds_dir`
    (env `MODELS__SEEDS_DIR`, where `models init-seeds` points users), else `<sql_dir>/seeds`.

    Raises:
        SeedError: a seed row is invalid (`file:line: reason`).
    """
    project_dir = Path(sql_dir) if sql_dir else default_sql_dir()
    return read_seeds(_seeds_dir(project_dir, seeds_dir), project_dir.parent)


# ----------------------------------------------------------------------------- the project's nodes
@dataclass
class Node:
    """A model or seed of the dbt project, as the ledger and the status see it."""

    unique_id: str
    name: str
    kind: str  # "model" or "seed"
    layer: str
    version: int | None
    materialized: str
    relation: str  # the identifier in the models schema
    path: str
    parents: list[str]
    fingerprint: str = ""

    @property
    def always_refreshed(self) -> bool:
        """Tables and incremental marts hold rows: new loads change them, views follow by themselves."""
        return self.kind == "model" and self.materialized in ("incremental", "table")


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def project_nodes(
    manifest: Manifest, seeds: list[Seed], settings: dict[str, Any], model_inputs: dict[str, str] | None = None
) -> list[Node]:
    """Every model and seed of the project, parents first, each with its fingerprint.

    `model_inputs`: what else a model's rows depend on, by model name (`sensitive_changes`: the
    compiled detection rules, which reach it as a var), so a change there rebuilds it in full.
    """
    model_inputs = model_inputs or {}
    checksums = {seed.name: seed.checksum for seed in seeds}
    macros = _digest(sorted(
        (macro.unique_id, macro.macro_sql) for macro in manifest.macros.values() if macro.package_name == PROJECT_NAME
    ))
    found: dict[str, Node] = {}
    for unique_id, item in manifest.nodes.items():
        kind = str(item.resource_type)
        if item.package_name != PROJECT_NAME or kind not in ("model", "seed"):
            continue
        path = str(item.original_file_path)
        layer = next((name for name in LAYERS if f"/{name}/" in f"/{path}"), "seeds" if kind == "seed" else "")
        version = getattr(item, "version", None)
        node = Node(
            unique_id=unique_id,
            name=item.name,
            kind=kind,
            layer=layer,
            version=int(version) if version is not None else None,
            materialized=str(item.config.materialized),
            relation=str(item.alias or item.name),
            path=path,
            parents=[parent for parent in getattr(item.depends_on, "nodes", []) if parent in manifest.nodes],
        )
        if kind == "seed":
            node.fingerprint = _digest(checksums.get(item.name, ""), item.config.to_dict())
        else:
            config = {key: value for key, value in item.config.to_dict().items() if key not in ("meta", "tags", "docs")}
            columns = {name: (column.data_type or "") for name, column in item.columns.items()}
            extra = [model_inputs[item.name]] if item.name in model_inputs else []
            node.fingerprint = _digest(item.checksum.checksum, config, columns, macros, settings, *extra)
        found[unique_id] = node
    ordered: list[Node] = []
    done: set[str] = set()

    def visit(node: Node) -> None:
        if node.unique_id in done:
            return
        done.add(node.unique_id)
        for parent in node.parents:
            if parent in found:
                visit(found[parent])
        parent_prints = [found[parent].fingerprint for parent in node.parents if parent in found]
        node.fingerprint = _digest(node.fingerprint, parent_prints)
        ordered.append(node)

    for node in sorted(found.values(), key=lambda node: (node.kind != "seed", LAYERS.index(node.layer)
                                                          if node.layer in LAYERS else -1, node.name)):
        visit(node)
    return ordered


# ----------------------------------------------------------------------------- the ledger
@dataclass
class LedgerEntry:
    version: int | None
    checksum: str
    built_at: datetime | None
    refreshed_at: datetime | None
    load_id: str | None


def read_ledger(engine: DltSqlEngine, schema: str) -> dict[tuple[str, str], LedgerEntry]:
    """(kind, name) -> entry; empty when there is no ledger, or one of the hand-written runner's."""
    if LEDGER_TABLE not in engine.relations(schema):
        return {}
    if engine.columns(schema, LEDGER_TABLE) != [name for name, _ in LEDGER_COLUMNS]:
        return {}
    rows = engine.query(
        f"select kind, model, version, checksum, built_at, refreshed_at, load_id from {engine.relation(schema, LEDGER_TABLE)}"
    )
    return {
        (str(kind), str(model)): LedgerEntry(version, str(checksum), built_at, refreshed_at, load_id)
        for kind, model, version, checksum, built_at, refreshed_at, load_id in rows
    }


def write_ledger(engine: DltSqlEngine, schema: str, entries: dict[tuple[str, str], LedgerEntry]) -> None:
    """Upsert the entries; a ledger of another shape (the hand-written runner's) is replaced."""
    from zendesk_audit.models.warehouse import sql_type_name

    table = engine.relation(schema, LEDGER_TABLE)
    with engine.transaction():
        engine.create_schema(schema)
        if LEDGER_TABLE in engine.relations(schema) and engine.columns(schema, LEDGER_TABLE) != [
            name for name, _ in LEDGER_COLUMNS
        ]:
            engine.execute(f"drop table {table}")
        columns = ", ".join(f"{name} {sql_type_name(kind)}" for name, kind in LEDGER_COLUMNS)
        engine.execute(f"create table if not exists {table} ({columns})")
        for (kind, name), entry in entries.items():
            engine.execute(f"delete from {table} where model = {sql_literal(name)} and kind = {sql_literal(kind)}")
            values = (kind, name, entry.version, entry.checksum, entry.built_at, entry.refreshed_at, entry.load_id)
            engine.execute(
                f"insert into {table} values ("
                + ", ".join(value_literal(value, sql_type) for value, (_, sql_type) in zip(values, LEDGER_COLUMNS))
                + ")"
            )


# ----------------------------------------------------------------------------- a build
@dataclass
class Prepared:
    """Everything a build or a status needs, read before dbt runs."""

    project: DbtProject
    schema: str
    override: str | None
    zone_label: str
    nodes: list[Node]
    ledger: dict[tuple[str, str], LedgerEntry]
    relations: dict[str, str]
    last_load_id: str | None
    detections: list[dict[str, str]] = field(default_factory=list)
    business_hours_schedule: str | None = None
    inputs: str = ""  # `build_inputs` of this build: the ledger's INPUTS row after it completes
    # The --time-zone of the last build ('' for each account's zone); None: not recorded (older builds).
    last_build_zone: str | None = None
    seeds: list[Seed] = field(default_factory=list)  # the checked seeds, as written for dbt

    def rebuild_reasons(self, full_refresh: bool = False) -> dict[str, str]:
        """Why a build now rebuilds each node (by unique id); a node that is not here stays.

        One answer for `build_prepared`, which acts on it, and `model_status`, which shows it.
        """
        reasons: dict[str, str] = {}
        zone_changed = self.last_build_zone is not None and self.last_build_zone != (self.override or "")
        for node in self.nodes:
            entry = self.ledger.get((node.kind, node.name))
            if full_refresh:
                reasons[node.unique_id] = "full refresh"
            elif node.relation not in self.relations:
                reasons[node.unique_id] = "missing" if entry else "new"
            elif entry is None:
                reasons[node.unique_id] = "not in ledger"
            elif entry.version != node.version:
                reasons[node.unique_id] = f"version {entry.version} -> {node.version}"
            elif entry.checksum != node.fingerprint:
                if zone_changed and node.kind == "model":
                    before, now = _zone_label(self.last_build_zone), _zone_label(self.override)
                    reasons[node.unique_id] = f"time zone: {before} -> {now}"
                else:
                    reasons[node.unique_id] = "sql, seed or settings changed"
        # What depends on a rebuilt node is rebuilt too (its fingerprint changed with its parent's).
        names = {node.unique_id: node.name for node in self.nodes}
        for node in self.nodes:
            changed = [parent for parent in node.parents if parent in reasons]
            if changed and (node.unique_id not in reasons or reasons[node.unique_id] == "sql, seed or settings changed"):
                reasons[node.unique_id] = f"a parent changed ({names[changed[0]]})"
        return reasons


def _zone_label(zone: str | None) -> str:
    return zone or "each account's zone"


TIME_ZONE_SETTING = ("setting", "time_zone")


def built_time_zone(ledger: dict[tuple[str, str], LedgerEntry]) -> str | None:
    """The --time-zone (or models.time_zone) of the last build, '' for each account's zone;
    None when the ledger does not say (built before it was recorded)."""
    entry = ledger.get(TIME_ZONE_SETTING)
    return None if entry is None else entry.checksum


def business_hours_schedule() -> str | None:
    """The schedule (id or name) whose hours judge off-hours in an account with several: the config
    key `models.business_hours_schedule` (env `MODELS__BUSINESS_HOURS_SCHEDULE`); None means the
    account's first schedule (the lowest id). Passed to dbt as the var
    `zendesk_audit_business_hours_schedule`, and part of every model's fingerprint like the time
    zone, so a change rebuilds the models instead of leaving rows judged the old way."""
    import dlt

    value = dlt.config.get("models.business_hours_schedule", str)
    return str(value).strip() or None if value is not None else None


def _accounts_state(engine: DltSqlEngine, dataset: str, present: dict[str, str]) -> list[object]:
    """The accounts table's columns and each account's zone: a change in either changes every local time."""
    if "accounts" not in present:
        return []
    columns = engine.columns(dataset, "accounts")
    wanted = [name for name in ("subdomain", "iana_time_zone", "time_zone_source") if name in columns]
    rows = engine.query(f"select {', '.join(wanted)} from {engine.relation(dataset, 'accounts')} order by 1")
    return [columns, [list(map(str, row)) for row in rows]]


def prepare(
    pipeline: dlt.Pipeline,
    *,
    time_zone: str | None = None,
    sql_dir: str | Path | None = None,
    seeds_dir: str | Path | None = None,
    detections_dir: str | Path | None = None,
    require_data: bool = True,
    zone_of_last_build: bool = False,
) -> Prepared:
    """Check the seeds, rules and settings, read the destination's state, and parse the dbt project.

    `zone_of_last_build` (for the status): with no zone given or configured, compare with the zone
    the last build used (`models build --time-zone`), so a model is not "outdated" right after the
    build that chose it; `Prepared.last_build_zone` tells the status to say so.

    Raises:
        SeedError: a seed row is invalid (`file:line: reason`); nothing was opened or written.
        ConfigurationError: a bad time zone, project, destination or detection rule (`file: field: reason`).
        ModelBuildError: `audit_logs` is not loaded yet.
    """
    project_dir = Path(sql_dir) if sql_dir else default_sql_dir()
    if not (project_dir / "dbt_project.yml").is_file():
        raise ConfigurationError(f"no dbt project at {project_dir} (dbt_project.yml): pass --sql-dir or set models.sql_dir")
    seeds = read_project_seeds(project_dir, seeds_dir)
    override = resolve_time_zone(time_zone)
    dataset = pipeline.dataset_name
    schema = models_schema_name(dataset)
    profile = profile_for(pipeline, schema)
    from zendesk_audit.models.detection_sql import detection_inputs  # pySigma: only when building

    detections = detection_inputs(seeds, profile.adapter, detections_dir)
    seeds = detections.seeds
    from zendesk_audit.models.rule_check import remember_checked

    remember_checked(detections_dir)  # the next run's early check may then skip pySigma
    check_adapter(profile.adapter)
    with open_engine(pipeline) as engine:
        present = engine.relations(dataset)
        if require_data and "audit_logs" not in present:
            raise ModelBuildError(
                f"no table {dataset}.audit_logs on {engine.name}: run `zendesk-audit load` first "
                "(or pass the --dataset it loaded)"
            )
        accounts = _accounts_state(engine, dataset, present)
        last_load_id = None
        if "audit_logs" in present:
            last_load_id = engine.query(f"select max(_dlt_load_id) from {engine.relation(dataset, 'audit_logs')}")[0][0]
        ledger = read_ledger(engine, schema)
        relations = engine.relations(schema)
    last_build_zone = built_time_zone(ledger)
    if zone_of_last_build and override is None and last_build_zone:
        override = check_time_zone(last_build_zone, "the last build's --time-zone")
    work_dir = Path(pipeline.working_dir) / "dbt"
    project = DbtProject(project_dir, work_dir, profile, work_dir / "seeds")
    write_checked_seeds(seeds, project.seeds_dir)
    project.write_profile()
    schedule = business_hours_schedule()
    settings = _settings(override, accounts, dataset, schedule)
    inputs = build_inputs(project_dir, seeds_dir, detections_dir, profile, settings)
    manifest = project.parse(_variables(dataset, override, detections.detections, None, schedule=schedule))
    nodes = project_nodes(manifest, seeds, settings, {"sensitive_changes": detections.fingerprint})
    zone_label = override or ("account time zone" if accounts else "UTC")
    return Prepared(project, schema, override, zone_label, nodes, ledger, relations, last_load_id, detections.detections,
                    schedule, inputs, last_build_zone, seeds)


# ----------------------------------------------------------------------------- skipping a no-op build
# The ledger row that records what the last complete build read (`build_inputs`), the load it
# reached and the relations it left: when all three still hold, a build has nothing to do.
INPUTS_KEY = ("inputs", "build")
# Raise it when the meaning of the inputs digest changes: every ledger then takes one full path.
INPUTS_FORMAT = 1
# Folders under a project that dbt or tools write, not the project's own files.
_NOT_PROJECT = {"target", "logs", "dbt_packages", "__pycache__"}


def _files_digest(folder: Path) -> list[tuple[str, str]]:
    """Every file under `folder` (hidden and written folders left out) as (relative path, sha256)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if name not in _NOT_PROJECT and not name.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            found.append((str(path.relative_to(folder)), hashlib.sha256(path.read_bytes()).hexdigest()))
    return found


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("zendesk-audit", "dbt-core", "dbt-duckdb", "dbt-postgres", "pysigma", "duckdb"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = ""
    return found


def build_inputs(project_dir: Path, seeds_dir: str | Path | None, detections_dir: str | Path | None,
                 profile: Any, settings: dict[str, Any]) -> str:
    """One digest of everything a build reads besides the loaded rows: every file of the dbt project
    (models, macros, tests, shipped seeds and rules, dbt_project.yml), the seed folder, the team's
    rule folder, this package's models code, the installed versions of zendesk-audit, dbt, its
    adapters and pySigma, the dbt target (no secret: it holds `env_var()` only) and the settings
    (time zone, schedule, dataset, each account's zone). Byte-level, so it errs towards building:
    any edit, even one dbt would ignore, makes the next build take the full path.

    Raises:
        ConfigurationError: the seed or rule folder is missing (the full path says so in one line).
    """
    from zendesk_audit.models.detection_rules import team_rules_dir

    seeds_path = _seeds_dir(project_dir, seeds_dir)
    team = team_rules_dir(detections_dir)
    for folder in (seeds_path, team):
        if folder is not None and not Path(folder).is_dir():
            raise ConfigurationError(f"{folder}: not a folder")
    return _digest(
        INPUTS_FORMAT, _files_digest(project_dir), _files_digest(seeds_path),
        _files_digest(Path(team)) if team else [], _files_digest(Path(__file__).resolve().parent),
        _versions(), profile.adapter, _target_shape(profile.target), settings,
    )


def _target_shape(target: dict[str, Any]) -> dict[str, Any]:
    """The dbt target as the models see it: a DuckDB file's path is left out, so a database file
    that was copied or moved (a backup, a read-only copy for readers) keeps its no-op builds."""
    return {key: value for key, value in target.items() if not (target.get("type") == "duckdb" and key == "path")}


def _settings(override: str | None, accounts: list[object], dataset: str, schedule: str | None) -> dict[str, Any]:
    """The settings every model's fingerprint holds (and the inputs digest)."""
    settings: dict[str, Any] = {"time_zone": override, "accounts": accounts, "dataset": dataset}
    if schedule is not None:  # absent by default, so fingerprints of builds before this setting stay valid
        settings["business_hours_schedule"] = schedule
    return settings


def _inputs_record(prepared: Prepared, outcomes: list[ModelOutcome]) -> str:
    relations = sorted({node.relation for node in prepared.nodes})
    models = [[outcome.name, outcome.layer, outcome.version] for outcome in outcomes]
    return json.dumps({"inputs": prepared.inputs, "relations": relations, "models": models}, sort_keys=True)


def unchanged_build(
    pipeline: dlt.Pipeline,
    *,
    time_zone: str | None = None,
    sql_dir: str | Path | None = None,
    seeds_dir: str | Path | None = None,
    detections_dir: str | Path | None = None,
) -> BuildResult | None:
    """The result of a build with nothing to do, without starting dbt; None when a build may have work.

    Nothing to do means, against the ledger's INPUTS row, which only a build that completed without
    error writes (a failed or partial one blanks it): the same `build_inputs` digest, the same last
    load in `audit_logs` (no new rows since), and every model and seed relation still present. Then
    the full path would also rebuild nothing (every fingerprint is made from those inputs) and
    refresh nothing (every watermark is that load). Anything else, a missing ledger, a ledger of
    another shape, a failed read, takes the full path, which decides per model.
    """
    started = time.monotonic()
    project_dir = Path(sql_dir) if sql_dir else default_sql_dir()
    if not (project_dir / "dbt_project.yml").is_file():
        return None
    # The seeds are checked before any database is opened (opening a DuckDB file creates it): a bad
    # row fails here in one line, as it would on the full path, and nothing is written.
    read_project_seeds(project_dir, seeds_dir)
    try:
        override = resolve_time_zone(time_zone)
        dataset = pipeline.dataset_name
        schema = models_schema_name(dataset)
        profile = profile_for(pipeline, schema)
        with open_engine(pipeline) as engine:
            present = engine.relations(dataset)
            if "audit_logs" not in present:
                return None
            entry = read_ledger(engine, schema).get(INPUTS_KEY)
            if entry is None or not entry.checksum:
                return None
            accounts = _accounts_state(engine, dataset, present)
            last_load_id = engine.query(f"select max(_dlt_load_id) from {engine.relation(dataset, 'audit_logs')}")[0][0]
            relations = engine.relations(schema)
        inputs = build_inputs(project_dir, seeds_dir, detections_dir, profile,
                              _settings(override, accounts, dataset, business_hours_schedule()))
        recorded = json.loads(entry.checksum)
    except (ZendeskAuditError, ValueError, OSError):
        return None  # the full path reports what is wrong, in its own words
    if recorded.get("inputs") != inputs or (entry.load_id or "") != (last_load_id or ""):
        return None
    if any(relation not in relations for relation in recorded.get("relations", [None])):
        return None
    zone_label = override or ("account time zone" if accounts else "UTC")
    models = [ModelOutcome(name, layer, version, "unchanged") for name, layer, version in recorded.get("models", [])]
    return BuildResult(schema=schema, time_zone=zone_label, seconds=round(time.monotonic() - started, 3),
                       models=models, dbt_skipped=True)


def _variables(dataset: str, time_zone: str | None, detections: list[dict[str, str]], since: str | None,
               days: list[list[str]] | None = None, *, schedule: str | None = None) -> str:
    values: dict[str, Any] = {"zendesk_audit_schema": dataset, "zendesk_audit_time_zone": time_zone,
                              DETECTIONS_VAR: detections, "zendesk_audit_business_hours_schedule": schedule}
    if since is not None:
        values["zendesk_audit_since_load_id"] = since
    if days is not None:
        values["zendesk_audit_changed_days"] = days
    return json.dumps(values)


def _vars(prepared: Prepared, pipeline: dlt.Pipeline, since: str | None) -> str:
    days = None
    if since is not None:
        # Asked once here rather than by every mart (macros/incremental.sql, changed_days). Read from
        # staging, CSV twins included: a day too many is re-read, never one too few.
        with open_engine(pipeline) as engine:
            rows = engine.query(
                f"select subdomain, cast(created_at_local as date) from {engine.relation(prepared.schema, 'stg_audit_logs')} "
                f"where _dlt_load_id > {sql_literal(since)} group by 1, 2 order by 1, 2"
            )
        days = [[str(subdomain), str(day)] for subdomain, day in rows]
    return _variables(pipeline.dataset_name, prepared.override, prepared.detections, since, days,
                      schedule=prepared.business_hours_schedule)


def _selector(node: Node) -> str:
    """A dbt selector for exactly this node (versioned models by name and version)."""
    if node.version is not None:
        return f"{node.name}.v{node.version}"
    return node.name


def _destination_failure(pipeline: dlt.Pipeline, failure: BaseException | str | None) -> ZendeskAuditError | None:
    """dbt's failure as `destination_errors` words it, when it is the destination's; else None."""
    if failure is None:
        return None
    from zendesk_audit.load.destination_errors import destination_problem
    from zendesk_audit.load.locking import duckdb_database

    exception = failure if isinstance(failure, BaseException) else RuntimeError(str(failure))
    return destination_problem(exception, duckdb_database(pipeline.destination))


def _run(prepared: Prepared, pipeline: dlt.Pipeline, command: str, nodes: list[Node], *, full_refresh: bool,
         since: str | None) -> tuple[set[str], ZendeskAuditError | None]:
    """Run dbt on `nodes`: the unique ids that succeeded, and the first failure as an error (or None)."""
    if not nodes:
        return set(), None
    args = [command, "--select", *(_selector(node) for node in nodes), "--vars", _vars(prepared, pipeline, since)]
    if full_refresh:
        args.append("--full-refresh")
    result = prepared.project.invoke(args)
    results = getattr(result.result, "results", None) or []
    succeeded = {item.node.unique_id for item in results if str(item.status) == "success"}
    if result.success:
        return succeeded, None
    adapter = prepared.project.profile.adapter
    by_id = {node.unique_id: node for node in nodes}
    failed = [item for item in results if str(item.status) == "error"]
    # The destination's own failure (a read-only file or folder, a server gone, a lock) is the
    # one line that names what to fix, as for every other command (destination_errors).
    problem = _destination_failure(pipeline, result.exception or (failed[0].message if failed else None))
    if problem is not None:
        return succeeded, problem
    if not failed:
        return succeeded, ModelBuildError(f"dbt {command} failed on {adapter}: {failure_line(result)}")
    node = by_id.get(failed[0].node.unique_id)
    where = str(Path(prepared.project.project_dir.name) / node.path) if node else failed[0].node.unique_id
    version = f" (version {node.version})" if node and node.version is not None else ""
    skipped = sum(1 for item in results if str(item.status) == "skipped")
    return succeeded, ModelBuildError(
        f"{where}{version} failed on {adapter}: {error_line(failed[0].message)}; it keeps its "
        f"previous rows" + (f", and {skipped} models after it were skipped" if skipped else "")
    )


def build_prepared(prepared: Prepared, pipeline: dlt.Pipeline, *, full_refresh: bool = False) -> BuildResult:
    """Seed, rebuild and refresh what the ledger says, then record it. See `build_models`."""
    started = time.monotonic()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    result = BuildResult(schema=prepared.schema, time_zone=prepared.zone_label, seconds=0.0)
    reasons = prepared.rebuild_reasons(full_refresh)
    seeds = [node for node in prepared.nodes if node.kind == "seed" and node.unique_id in reasons]
    rebuilt = [node for node in prepared.nodes if node.kind == "model" and node.unique_id in reasons]
    ledger_watermarks = [
        prepared.ledger[(node.kind, node.name)].load_id
        for node in prepared.nodes
        if node.always_refreshed and node.unique_id not in reasons and (node.kind, node.name) in prepared.ledger
    ]
    since = min((mark or "" for mark in ledger_watermarks), default=None)
    refreshed = [
        node for node in prepared.nodes
        if node.always_refreshed and node.unique_id not in reasons and since != (prepared.last_load_id or "")
    ]
    done: set[str] = set()
    error: ZendeskAuditError | None = None
    for command, nodes, full, mark in (("seed", seeds, True, None), ("run", rebuilt, True, None),
                                       ("run", refreshed, False, since or "")):
        if error is None:
            succeeded, error = _run(prepared, pipeline, command, nodes, full_refresh=full, since=mark)
            done |= succeeded
            if command == "seed" and nodes:
                # dbt writes a seed's SQL to target/run/<project>/<the seed's path>: with the seeds
                # outside the project (an absolute path) that is the CSV file itself (dbt-core #7373).
                # Written again, so the folder always holds the CSV files dbt loads.
                write_checked_seeds(prepared.seeds, prepared.project.seeds_dir)
    entries: dict[tuple[str, str], LedgerEntry] = {}
    refreshed_ids = {node.unique_id for node in refreshed}
    for node in prepared.nodes:
        key = (node.kind, node.name)
        if node.unique_id not in done:
            if node.kind == "model":
                result.models.append(ModelOutcome(node.name, node.layer, node.version, "unchanged"))
            continue
        if node.unique_id in refreshed_ids:
            previous = prepared.ledger[key]
            entries[key] = LedgerEntry(node.version, node.fingerprint, previous.built_at, now, prepared.last_load_id)
            result.models.append(ModelOutcome(node.name, node.layer, node.version, "refreshed", "new loads"))
        else:
            entries[key] = LedgerEntry(node.version, node.fingerprint, now, now, prepared.last_load_id)
            if node.kind == "seed":
                result.seeds_loaded.append(node.name)
            else:
                result.models.append(ModelOutcome(node.name, node.layer, node.version, "built", reasons[node.unique_id]))
    if done:  # the zone this build used, for the status (`Prepared.last_build_zone`)
        entries[TIME_ZONE_SETTING] = LedgerEntry(None, prepared.override or "", now, now, None)
    # The row that lets the next build skip dbt (`unchanged_build`): blank after a failure, so
    # only a build that left every model up to date with these inputs and this load can be skipped.
    entries[INPUTS_KEY] = LedgerEntry(None, "" if error is not None else _inputs_record(prepared, result.models),
                                      now, now, prepared.last_load_id)
    with open_engine(pipeline) as engine:
        write_ledger(engine, prepared.schema, entries)
    if error is not None:
        raise error
    result.seconds = round(time.monotonic() - started, 3)
    return result


def build_models(
    pipeline: dlt.Pipeline,
    *,
    time_zone: str | None = None,
    sql_dir: str | Path | None = None,
    seeds_dir: str | Path | None = None,
    detections_dir: str | Path | None = None,
    full_refresh: bool = False,
) -> BuildResult:
    """Build the SQL models in `<dataset>_models` on the pipeline's destination, with dbt.

    Args:
        pipeline: a dlt pipeline (see `zendesk_audit.load.pipeline.create_pipeline`).
        time_zone: IANA name for local times; default: config `models.time_zone`, then the
            account's time zone from `accounts`, then UTC.
        sql_dir: the dbt project (default: config `models.sql_dir`, then the project's `sql/`).
        seeds_dir: the seed CSV folder (default: config `models.seeds_dir`, then `<sql_dir>/seeds`).
        detections_dir: the team's folder of Sigma rules, added to the shipped ones (default: config
            `models.detections_dir`, else none); a changed rule rebuilds `sensitive_changes` in full.
        full_refresh: rebuild every model and seed from all records.

    Raises:
        SeedError: a seed row is invalid (`file:line: reason`), nothing was built.
        ConfigurationError: a bad time zone, project, destination or rule (`file: field: reason`).
        ModelBuildError: a model failed on the destination; it keeps its previous rows.

    Example:
        >>> pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path="zendesk.duckdb")
        >>> print(build_models(pipeline).summary_line())
        models: 0 built, 10 refreshed, 7 unchanged in schema zendesk_audit_models (account time zone) in 1.9 s
    """
    # `seconds` is the whole step: the check for a no-op, the seeds' and rules' checks, dbt's start
    # and parse, the runs and the ledger (not the process's start nor the database's opening).
    started = time.monotonic()
    if not full_refresh:
        skipped = unchanged_build(pipeline, time_zone=time_zone, sql_dir=sql_dir, seeds_dir=seeds_dir,
                                  detections_dir=detections_dir)
        if skipped is not None:
            skipped.seconds = round(time.monotonic() - started, 3)
            return skipped
    prepared = prepare(pipeline, time_zone=time_zone, sql_dir=sql_dir, seeds_dir=seeds_dir, detections_dir=detections_dir)
    result = build_prepared(prepared, pipeline, full_refresh=full_refresh)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def model_status(
    pipeline: dlt.Pipeline, *, sql_dir: str | Path | None = None, seeds_dir: str | Path | None = None,
    detections_dir: str | Path | None = None,
) -> list[ModelStatus]:
    """Each model with its version, built version, build time and state, parents first.

    "outdated" means a build now would rebuild it: its SQL, a seed it reads, a rule or a setting changed.

    Example:
        >>> for status in model_status(pipeline):
        ...     print(status.name, status.file_version, status.built_version, status.state)
    """
    return status_of(prepare(pipeline, sql_dir=sql_dir, seeds_dir=seeds_dir, detections_dir=detections_dir,
                             require_data=False, zone_of_last_build=True))


def status_of(prepared: Prepared) -> list[ModelStatus]:
    """Each model's state and, when outdated, why (`Prepared.rebuild_reasons`)."""
    reasons = prepared.rebuild_reasons()
    statuses = []
    for node in prepared.nodes:
        if node.kind != "model":
            continue
        entry = prepared.ledger.get((node.kind, node.name))
        reason = None
        if entry is None:
            state = "not built"
        elif node.relation not in prepared.relations:
            state = "missing"
        elif node.unique_id in reasons:
            state, reason = "outdated", reasons[node.unique_id]
        else:
            state = "up to date"
        statuses.append(ModelStatus(
            node.name, node.layer, node.version, entry.version if entry else None, entry.built_at if entry else None,
            state, node.materialized, entry.refreshed_at if entry else None, reason,
        ))
    return statuses


def zone_note(pipeline: dlt.Pipeline) -> str | None:
    """For `models status`: the line saying the models were built with a --time-zone that the
    next build without one (the one after each `load`) will not keep; None otherwise."""
    from zendesk_audit.models.warehouse import open_engine

    with open_engine(pipeline) as engine:
        zone = built_time_zone(read_ledger(engine, models_schema_name(pipeline.dataset_name)))
    if not zone or resolve_time_zone(None):
        return None
    return (f"built with --time-zone {zone}: the next build without it (as after each `zendesk-audit load`) rebuilds "
            "them in each account's zone; set models.time_zone to keep it")


def model_names(sql_dir: str | Path | None = None) -> list[str]:
    """The public names of the models (what `<dataset>_models` holds), from the project's files."""
    project_dir = Path(sql_dir) if sql_dir else default_sql_dir()
    names = []
    for layer in LAYERS:
        names += sorted(path.stem for path in (project_dir / "models" / layer).glob("*.sql"))
    return names


def check_models(
    pipeline: dlt.Pipeline, *, sql_dir: str | Path | None = None, detections_dir: str | Path | None = None
) -> list[str]:
    """dbt's tests of every model (the `data_tests` of each `.yml`); one line per failure, empty when all pass."""
    prepared = prepare(pipeline, sql_dir=sql_dir, detections_dir=detections_dir)
    result = prepared.project.invoke(["test", "--vars", _vars(prepared, pipeline, None)])
    problems = []
    for item in getattr(result.result, "results", None) or []:
        if str(item.status) != "pass":
            problems.append(f"{item.node.name}: {item.status}: {error_line(item.message)}")
    if not result.success and not problems:
        problems.append(failure_line(result))
    return problems


def model_time_zones(pipeline: dlt.Pipeline) -> list[AccountTimeZone]:
    """Each account's time zone as the built models use it, with its source and any fallback reason."""
    with open_engine(pipeline) as engine:
        return account_time_zones(engine, pipeline.dataset_name)


def demo_lines(pipeline: dlt.Pipeline) -> list[str]:
    """A few lines from the marts for `make demo`: off-hours, sensitive changes, role changes."""
    schema = models_schema_name(pipeline.dataset_name)
    with open_engine(pipeline) as engine:
        return lines_with_engine(engine, schema)


def lines_with_engine(engine: DltSqlEngine, schema: str) -> list[str]:
    def view(name: str) -> str:
        return engine.relation(schema, name)

    lines = []
    rows = engine.query(
        f"select off_hours_reason, count(*) from {view('off_hours_changes')} group by off_hours_reason order by 2 desc"
    )
    total = sum(count for _, count in rows)
    lines.append(f"off-hours changes by people: {total:,} (" + ", ".join(f"{reason} {count:,}" for reason, count in rows) + ")")
    rows = engine.query(
        f"select actor_name, count(*) from {view('off_hours_changes')} group by actor_name order by 2 desc, 1 limit 3"
    )
    for name, count in rows:
        lines.append(f"  {name:<24} {count:>6,} off-hours")
    rows = engine.query(
        f"select severity, count(*), count(distinct rule_id) from {view('sensitive_changes')} "
        "group by severity, severity_rank order by severity_rank desc"
    )
    by_severity = ", ".join(f"{severity} {count:,} ({rules} rules)" for severity, count, rules in rows)
    lines.append(f"sensitive changes by severity: {by_severity}")
    rows = engine.query(
        f"select changed_at, user_name, product, old_role, new_role, actor_name from {view('user_role_history')} "
        "order by changed_at desc, audit_log_id desc, line_number limit 3"
    )
    lines.append("latest role changes:")
    for changed_at, user, product, old, new, actor in rows:  # a null role is Zendesk's `not set`
        lines.append(f"  {changed_at:%Y-%m-%d %H:%M} {user}, {product}: {old or 'not set'} -> {new or 'not set'} "
                     f"(by {actor})")
    return lines
