"""The versioned-model runner: applies `sql/` layer by layer as views and keeps the ledger.

`build_models(pipeline)` builds every model of `sql/` in the schema `<dataset>_models` of the
pipeline's destination, in dependency order, inside one transaction where the destination allows
it (DuckDB, PostgreSQL). The ledger table `model_ledger` in the same schema records model, version,
checksum and when it was built; a build replaces only the views whose version or rendered SQL
changed, or that are missing, and replaces them in place (`create or replace view`) so a BI tool
never sees one missing. Seeds (`sql/seeds/*.csv`) are validated first and reloaded when they
change.

Local times use, in this order: the `time_zone` argument (`--time-zone`), the config key
`models.time_zone` (env `MODELS__TIME_ZONE`), both for every account; then each account's
`accounts.iana_time_zone`, which the load chose (its `time_zone` setting, the account settings', or
UTC: `accounts.time_zone_source`); then UTC. `stg_audit_logs.time_zone_source` says which.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zendesk_audit.errors import ConfigurationError, ZendeskAuditError
from zendesk_audit.models_engines import LEDGER_TABLE, Engine, first_error_line, open_engine
from zendesk_audit.models_project import (
    Model,
    RenderContext,
    default_sql_dir,
    discover_models,
    render,
    rendered_checksum,
    view_body,
)
from zendesk_audit.models_seeds import Seed, SeedError, read_seeds
from zendesk_audit.time_zones import AccountTimeZone, account_time_zones, check_time_zone

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
]

# `accounts` as the models read it. Before the first load (a dataset of CSV imports) the table does
# not exist, and rows written by versions before `time_zone_source` lack the newer columns: the
# models then read a relation with every column, empty or with nulls for the missing ones.
ACCOUNT_SOURCE_COLUMNS = (
    ("subdomain", "varchar"),
    ("time_zone", "varchar"),
    ("iana_time_zone", "varchar"),
    ("time_zone_source", "varchar"),
    ("time_zone_reason", "varchar"),
    ("loaded_at", "timestamp with time zone"),
)
EMPTY_ACCOUNTS = (
    "(select "
    + ", ".join(f"cast(null as {kind}) as {name}" for name, kind in ACCOUNT_SOURCE_COLUMNS)
    + " where 1 = 0)"
)


class ModelBuildError(ZendeskAuditError):
    """A model failed to build; in DuckDB and PostgreSQL nothing of the build was committed."""


def models_schema_name(dataset: str) -> str:
    return f"{dataset}_models"


@dataclass
class ModelOutcome:
    name: str
    layer: str
    version: int
    action: str  # "built", "unchanged"
    reason: str = ""


@dataclass
class BuildResult:
    """What a build did, for the summary line and `--json`."""

    schema: str
    time_zone: str
    seconds: float
    models: list[ModelOutcome] = field(default_factory=list)
    seeds_loaded: list[str] = field(default_factory=list)

    @property
    def built(self) -> list[str]:
        return [outcome.name for outcome in self.models if outcome.action == "built"]

    @property
    def unchanged(self) -> list[str]:
        return [outcome.name for outcome in self.models if outcome.action == "unchanged"]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "built": self.built, "unchanged": self.unchanged}

    def summary_line(self) -> str:
        seeds = f", {len(self.seeds_loaded)} seeds reloaded" if self.seeds_loaded else ""
        return (
            f"models: {len(self.built)} built, {len(self.unchanged)} unchanged{seeds} in schema {self.schema} "
            f"({self.time_zone}) in {self.seconds:.2f} s"
        )


@dataclass
class ModelStatus:
    """One model as `zendesk-audit models status` shows it."""

    name: str
    layer: str
    file_version: int
    built_version: int | None
    built_at: datetime | None
    state: str  # "up to date", "not built", "outdated", "view missing"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["built_at"] = self.built_at.isoformat() if self.built_at else None
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


def optional_sources(engine: Engine, dataset: str, present: dict[str, str]) -> dict[str, str]:
    """SQL for the raw tables the models may read but that are missing or older (see EMPTY_ACCOUNTS)."""
    if "accounts" not in present:
        return {"accounts": EMPTY_ACCOUNTS}
    columns = engine.columns(dataset, "accounts")
    if all(name in columns for name, _ in ACCOUNT_SOURCE_COLUMNS):
        return {}
    listed = ", ".join(
        name if name in columns else f"cast(null as {kind}) as {name}" for name, kind in ACCOUNT_SOURCE_COLUMNS
    )
    return {"accounts": f"(select {listed} from {engine.relation(dataset, 'accounts')})"}


def _sql_dir(sql_dir: str | Path | None) -> Path:
    if sql_dir is None:
        import dlt

        sql_dir = dlt.config.get("models.sql_dir", str)
    return Path(sql_dir) if sql_dir else default_sql_dir()


def _seeds_dir(root: Path, seeds_dir: str | Path | None) -> Path:
    if seeds_dir is None:
        import dlt

        seeds_dir = dlt.config.get("models.seeds_dir", str)
    return Path(seeds_dir) if seeds_dir else root / "seeds"


@dataclass
class Project:
    """Models and seeds read and validated from disk, before any database is touched."""

    root: Path
    models: list[Model]
    seeds: list[Seed]

    @classmethod
    def load(cls, sql_dir: str | Path | None = None, seeds_dir: str | Path | None = None) -> Project:
        root = _sql_dir(sql_dir)
        models = discover_models(root)
        seeds = read_seeds(_seeds_dir(root, seeds_dir), root.parent)
        names = {seed.name for seed in seeds}
        for model in models:
            missing = sorted(model.seeds - names)
            if missing:
                raise ConfigurationError(
                    f"{model.relative_path(root)}: seed({missing[0]!r}) has no {missing[0]}.csv in the seeds folder"
                )
        return cls(root, models, seeds)


def build_with_engine(
    engine: Engine,
    dataset: str,
    *,
    time_zone: str | None = None,
    sql_dir: str | Path | None = None,
    seeds_dir: str | Path | None = None,
    project: Project | None = None,
) -> BuildResult:
    """Build the models on an open engine. See `build_models`."""
    started = time.monotonic()
    project = project or Project.load(sql_dir, seeds_dir)
    override = resolve_time_zone(time_zone)
    schema = models_schema_name(dataset)
    present = engine.relations(dataset)
    if "audit_logs" not in present:
        raise ModelBuildError(
            f"no table {dataset}.audit_logs on {engine.name}: run `zendesk-audit load` first (or pass the --dataset it loaded)"
        )
    context = RenderContext(
        dataset=dataset,
        models_schema=schema,
        variables={"time_zone": override},
        missing_sources=optional_sources(engine, dataset, present),
    )
    zone_label = override or ("account time zone" if "accounts" in present else "UTC")
    result = BuildResult(schema=schema, time_zone=zone_label, seconds=0.0)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    entries: list[tuple[str, str, int, str, datetime]] = []
    with engine.transaction():
        engine.create_schema(schema)
        engine.ensure_ledger(schema)
        ledger = engine.read_ledger(schema)
        relations = engine.relations(schema)
        for seed in project.seeds:
            if seed.name in relations and ledger.get(("seed", seed.name), (0, "", None))[1] == seed.checksum:
                continue
            if engine.load_seed(schema, seed, exists=seed.name in relations):
                relations = engine.relations(schema)
            entries.append(("seed", seed.name, 1, seed.checksum, now))
            result.seeds_loaded.append(seed.name)
        for model in project.models:
            rendered = render(model, context)
            checksum = rendered_checksum(rendered)
            built = ledger.get(("view", model.name))
            if relations.get(model.name) != "view":
                reason = "view missing" if built else "new"
            elif built is None:
                reason = "not in ledger"
            elif built[0] != model.version:
                reason = f"version {built[0]} -> {model.version}"
            elif built[1] != checksum:
                reason = "sql or settings changed"
            else:
                result.models.append(ModelOutcome(model.name, model.layer, model.version, "unchanged"))
                continue
            try:
                dropped = engine.replace_view(schema, model.name, view_body(rendered))
            except ZendeskAuditError:
                raise
            except Exception as exc:  # noqa: BLE001 - any database error becomes one line
                rolled = "nothing of this build was committed" if engine.transactional else "models before it were built"
                raise ModelBuildError(
                    f"{model.relative_path(project.root)} (version {model.version}) failed on {engine.name}: "
                    f"{first_error_line(exc)}; {rolled}"
                ) from exc
            if dropped:
                relations = engine.relations(schema)
            entries.append(("view", model.name, model.version, checksum, now))
            result.models.append(ModelOutcome(model.name, model.layer, model.version, "built", reason))
        if entries:
            engine.write_ledger(schema, entries)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def build_models(
    pipeline: Any,
    *,
    time_zone: str | None = None,
    sql_dir: str | Path | None = None,
    seeds_dir: str | Path | None = None,
) -> BuildResult:
    """Build the SQL models as views in `<dataset>_models` on the pipeline's destination.

    Args:
        pipeline: a dlt pipeline (see `zendesk_audit.pipeline.create_pipeline`).
        time_zone: IANA name for local times; default: config `models.time_zone`, then the
            account's time zone from `accounts`, then UTC.
        sql_dir: the models folder (default: config `models.sql_dir`, then the project's `sql/`).
        seeds_dir: the seed CSV folder (default: config `models.seeds_dir`, then `<sql_dir>/seeds`).

    Raises:
        SeedError: a seed row is invalid (`file:line: reason`), nothing was built.
        ConfigurationError: a bad time zone, model header or reference.
        ModelBuildError: a model failed on the destination; nothing was committed there.

    Example:
        >>> pipeline = create_pipeline("duckdb", "zendesk_audit", duckdb_path="zendesk.duckdb")
        >>> print(build_models(pipeline).summary_line())
        models: 14 built, 0 unchanged, 5 seeds reloaded in schema zendesk_audit_models (account time zone) in 0.4 s
    """
    project = Project.load(sql_dir, seeds_dir)
    with open_engine(pipeline) as engine:
        return build_with_engine(engine, pipeline.dataset_name, time_zone=time_zone, project=project)


def status_with_engine(engine: Engine, dataset: str, sql_dir: str | Path | None = None) -> list[ModelStatus]:
    models = discover_models(_sql_dir(sql_dir))
    schema = models_schema_name(dataset)
    relations = engine.relations(schema)
    ledger = engine.read_ledger(schema) if LEDGER_TABLE in relations else {}
    statuses = []
    for model in models:
        built = ledger.get(("view", model.name))
        if built is None:
            state = "not built"
        elif relations.get(model.name) != "view":
            state = "view missing"
        elif built[0] != model.version:
            state = "outdated"
        else:
            state = "up to date"
        statuses.append(
            ModelStatus(model.name, model.layer, model.version, built[0] if built else None, built[2] if built else None, state)
        )
    return statuses


def model_status(pipeline: Any, *, sql_dir: str | Path | None = None) -> list[ModelStatus]:
    """Each model with its file version, built version, build time and state, in build order.

    Example:
        >>> for status in model_status(pipeline):
        ...     print(status.name, status.file_version, status.built_version, status.state)
    """
    with open_engine(pipeline) as engine:
        return status_with_engine(engine, pipeline.dataset_name, sql_dir)


def model_time_zones(pipeline: Any) -> list[AccountTimeZone]:
    """Each account's time zone as the built models use it, with its source and any fallback reason."""
    with open_engine(pipeline) as engine:
        return account_time_zones(engine, pipeline.dataset_name)


def demo_lines(pipeline: Any) -> list[str]:
    """A few lines from the views for `make demo`: off-hours, sensitive changes, role changes."""
    schema = models_schema_name(pipeline.dataset_name)
    with open_engine(pipeline) as engine:
        return lines_with_engine(engine, schema)


def lines_with_engine(engine: Engine, schema: str) -> list[str]:
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
        f"select changed_at, user_name, old_role, new_role, actor_name from {view('user_role_history')} "
        "order by changed_at desc, audit_log_id desc limit 3"
    )
    lines.append("latest role changes:")
    for changed_at, user, old, new, actor in rows:
        lines.append(f"  {changed_at:%Y-%m-%d %H:%M} {user}: {old} -> {new} (by {actor})")
    return lines


def checks_with_engine(engine: Engine, dataset: str, sql_dir: str | Path | None = None) -> list[str]:
    """Run the checks each model's `.yml` declares; one line per failure, empty when all pass.

    Checks: the documented columns are the view's columns, in order; `unique_key` has no
    duplicates; `not_null` and `accepted_values` column tests.
    """
    import yaml

    schema = models_schema_name(dataset)
    problems: list[str] = []
    for model in discover_models(_sql_dir(sql_dir)):
        spec_path = model.path.with_suffix(".yml")
        if not spec_path.exists():
            problems.append(f"{model.name}: no {spec_path.name} beside the model")
            continue
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
        view = engine.relation(schema, model.name)
        documented = [column["name"] for column in spec.get("columns", [])]
        actual = engine.columns(schema, model.name)
        if documented != actual:
            problems.append(f"{model.name}: {spec_path.name} documents {documented}, the view has {actual}")
        key = spec.get("unique_key")
        if key:
            columns = ", ".join(key)
            duplicates = engine.query(
                f"select count(*) from (select {columns} from {view} group by {columns} having count(*) > 1) as duplicates"
            )[0][0]
            if duplicates:
                problems.append(f"{model.name}: {duplicates} duplicated values of ({columns})")
        for column in spec.get("columns", []):
            for test in column.get("tests", []) or []:
                if test == "not_null":
                    nulls = engine.query(f"select count(*) from {view} where {column['name']} is null")[0][0]
                    if nulls:
                        problems.append(f"{model.name}.{column['name']}: {nulls} nulls")
                elif isinstance(test, dict) and "accepted_values" in test:
                    allowed = ", ".join(f"'{value}'" for value in test["accepted_values"])
                    bad = engine.query(
                        f"select count(*) from {view} where {column['name']} is not null and {column['name']} not in ({allowed})"
                    )[0][0]
                    if bad:
                        problems.append(f"{model.name}.{column['name']}: {bad} values outside {test['accepted_values']}")
    return problems


def check_models(pipeline: Any, *, sql_dir: str | Path | None = None) -> list[str]:
    """The `.yml` checks of every model on the pipeline's destination (see `checks_with_engine`)."""
    with open_engine(pipeline) as engine:
        return checks_with_engine(engine, pipeline.dataset_name, sql_dir)
