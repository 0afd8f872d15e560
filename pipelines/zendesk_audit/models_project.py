"""The `sql/` project on disk: models, their versions, references, rendering and the lock file.

Nothing here touches a database. A model is one file `sql/<layer>/<name>.sql` that starts with
`-- version: N` and reads other relations only through four placeholders, so the runner knows the
dependency order and the schema names:

- `{{ source('audit_logs') }}`: a table the connector loads (`<dataset>.audit_logs`);
- `{{ ref('stg_audit_logs') }}`: another model (`<dataset>_models.stg_audit_logs`);
- `{{ seed('business_hours') }}`: a seed table (`<dataset>_models.business_hours`);
- `{{ var('time_zone') }}`: the configured time zone override, as a SQL literal or a typed null.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zendesk_audit.errors import ConfigurationError

LAYERS = ("staging", "intermediate", "marts")
LOCK_FILE_NAME = "models.lock"
# The models are written once in this sqlglot dialect; DuckDB and PostgreSQL run them unchanged.
SOURCE_DIALECT = "postgres"

_VERSION_HEADER = re.compile(r"^--\s*version:\s*(\d+)\s*$")
_PLACEHOLDER = re.compile(r"\{\{\s*(source|ref|seed|var)\(\s*'([A-Za-z0-9_]+)'\s*\)\s*\}\}")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def default_sql_dir() -> Path:
    """The models shipped with the package: `zendesk_audit/_sql` when installed, else the checkout's `sql/`.

    The repository keeps the models in `sql/` at its root; the wheel carries that folder inside the
    package (see `[tool.hatch.build.targets.wheel.sources]`), so an installed command finds its models
    from any working folder. A checkout or an editable install reads `sql/` itself, so an edit there
    needs no reinstall.
    """
    package = Path(__file__).resolve().parent
    shipped = package / "_sql"
    return shipped if shipped.is_dir() else package.parents[1] / "sql"


def file_checksum(text: str) -> str:
    """sha256 of a model file, newlines normalised so a Windows checkout has the same checksum."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Model:
    """One SQL model: a view named like its file."""

    name: str
    layer: str
    path: Path
    version: int
    sql: str
    checksum: str
    refs: frozenset[str] = field(default_factory=frozenset)
    sources: frozenset[str] = field(default_factory=frozenset)
    seeds: frozenset[str] = field(default_factory=frozenset)

    def relative_path(self, root: Path) -> str:
        try:
            return str(self.path.relative_to(root.parent))
        except ValueError:
            return str(self.path)


def parse_model(path: Path, layer: str) -> Model:
    """Read one model file; its first line must be `-- version: N`.

    Raises:
        ConfigurationError: no version header.
    """
    text = path.read_text(encoding="utf-8")
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    match = _VERSION_HEADER.match(first_line.strip())
    if not match:
        raise ConfigurationError(f"{path}:1: a model starts with '-- version: N' (found {first_line[:40]!r})")
    found: dict[str, set[str]] = {"source": set(), "ref": set(), "seed": set(), "var": set()}
    for kind, name in _PLACEHOLDER.findall(text):
        found[kind].add(name)
    return Model(
        name=path.stem,
        layer=layer,
        path=path,
        version=int(match.group(1)),
        sql=text,
        checksum=file_checksum(text),
        refs=frozenset(found["ref"]),
        sources=frozenset(found["source"]),
        seeds=frozenset(found["seed"]),
    )


def discover_models(sql_dir: Path | None = None) -> list[Model]:
    """Every model under `sql/<layer>/`, in build order (references first, then layer, then name).

    Raises:
        ConfigurationError: a duplicate name, an unknown reference or a reference cycle.
    """
    root = Path(sql_dir) if sql_dir else default_sql_dir()
    if not root.is_dir():
        raise ConfigurationError(f"no SQL models folder at {root}: pass --sql-dir or set models.sql_dir")
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*.sql")):
            model = parse_model(path, layer)
            if model.name in models:
                raise ConfigurationError(f"{path}: a model named {model.name!r} already exists in {models[model.name].path}")
            models[model.name] = model
    return order_models(models)


def order_models(models: Mapping[str, Model]) -> list[Model]:
    """Topological order over `ref()`; ties go by layer, then name, so the order is stable."""
    for model in models.values():
        unknown = sorted(model.refs - set(models))
        if unknown:
            raise ConfigurationError(f"{model.path}: ref({unknown[0]!r}) names no model in sql/")
    rank = {layer: index for index, layer in enumerate(LAYERS)}
    ordered: list[Model] = []
    done: set[str] = set()
    pending = dict(models)
    while pending:
        ready = [model for model in pending.values() if model.refs <= done]
        if not ready:
            raise ConfigurationError(f"reference cycle between models: {', '.join(sorted(pending))}")
        ready.sort(key=lambda model: (rank[model.layer], model.name))
        first = ready[0]
        ordered.append(first)
        done.add(first.name)
        del pending[first.name]
    return ordered


def dependents(models: list[Model], name: str) -> set[str]:
    """Every model that reads `name`, directly or through others."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for model in models:
            if model.name not in found and (name in model.refs or model.refs & found):
                found.add(model.name)
                changed = True
    return found


def quote_identifier(name: str) -> str:
    """Plain lower-case names stay bare (portable); anything else is double-quoted."""
    return name if _IDENTIFIER.match(name) else '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A value as a portable SQL literal (strings single-quoted, quotes doubled)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class RenderContext:
    """What the placeholders turn into for one dataset on one engine."""

    dataset: str
    models_schema: str
    variables: dict[str, str | None] = field(default_factory=dict)
    # source name -> SQL that replaces it when the table does not exist (e.g. `accounts`)
    missing_sources: dict[str, str] = field(default_factory=dict)
    quote: Callable[[str], str] = quote_identifier

    def relation(self, schema: str, name: str) -> str:
        return f"{self.quote(schema)}.{self.quote(name)}"


def render(model: Model, context: RenderContext) -> str:
    """The model's SQL with every placeholder replaced; the version header stays as a comment.

    Raises:
        ConfigurationError: a `var()` the runner does not know.
    """

    def substitute(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "source":
            if name in context.missing_sources:
                return context.missing_sources[name]
            return context.relation(context.dataset, name)
        if kind in ("ref", "seed"):
            return context.relation(context.models_schema, name)
        if name not in context.variables:
            known = ", ".join(sorted(context.variables))
            raise ConfigurationError(f"{model.path}: var({name!r}) is not a known setting (known: {known})")
        value = context.variables[name]
        return sql_literal(value) if value is not None else "cast(null as varchar)"

    return _PLACEHOLDER.sub(substitute, model.sql).strip() + "\n"


def view_body(rendered: str) -> str:
    """The rendered SQL without its leading comment lines and trailing semicolon."""
    lines = rendered.strip().splitlines()
    while lines and lines[0].lstrip().startswith("--"):
        lines.pop(0)
    return "\n".join(lines).rstrip().rstrip(";")


def rendered_checksum(rendered: str) -> str:
    return hashlib.sha256(rendered.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- the lock file
def lock_path(sql_dir: Path | None = None) -> Path:
    return (Path(sql_dir) if sql_dir else default_sql_dir()) / LOCK_FILE_NAME


def read_lock(sql_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    path = lock_path(sql_dir)
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("models", {})


def lock_contents(models: list[Model]) -> str:
    ordered = sorted(models, key=lambda model: model.name)
    entries = {model.name: {"version": model.version, "checksum": model.checksum} for model in ordered}
    return json.dumps({"models": entries}, indent=2) + "\n"


def write_lock(sql_dir: Path | None = None) -> Path:
    """Record every model's version and checksum in `sql/models.lock` (commit it)."""
    models = discover_models(sql_dir)
    path = lock_path(sql_dir)
    path.write_text(lock_contents(models), encoding="utf-8")
    return path


def lock_problems(sql_dir: Path | None = None) -> list[str]:
    """One line per model whose file and lock disagree; empty when the lock is current.

    A changed file with the same version is the mistake this guards against: a BI tool would
    keep reading the old view, because the ledger says that version is built.
    """
    root = Path(sql_dir) if sql_dir else default_sql_dir()
    locked = read_lock(root)
    problems = []
    for model in discover_models(root):
        entry = locked.get(model.name)
        where = model.relative_path(root)
        if entry is None:
            problems.append(f"{where}: not in {LOCK_FILE_NAME}: run `zendesk-audit models lock` and commit it")
        elif model.checksum != entry["checksum"] and model.version <= int(entry["version"]):
            problems.append(
                f"{where}: changed without a version bump: raise '-- version: {model.version}' to "
                f"{int(entry['version']) + 1}, then run `zendesk-audit models lock`"
            )
        elif model.checksum != entry["checksum"] or model.version != int(entry["version"]):
            problems.append(f"{where}: version {model.version} is not in {LOCK_FILE_NAME}: run `zendesk-audit models lock`")
    for name in sorted(set(locked) - {model.name for model in discover_models(root)}):
        problems.append(f"{LOCK_FILE_NAME}: {name} has no SQL file any more: run `zendesk-audit models lock`")
    return problems
