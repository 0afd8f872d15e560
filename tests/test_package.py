"""The package as users get it: declared dependencies, licence, one version, and a wheel that runs.

The `wheel` tests build the sdist and, from it, the wheel (`python -m build`), install the wheel into a
fresh virtualenv (no system site-packages, no checkout on the path) and run the installed command from
a temporary folder against the sandbox. Select them with `-m wheel`; they take about two minutes.
"""
from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipelines" / "zendesk_audit"
# The wheel's second top-level package: the local Zendesk stand-in (`zendesk-audit sandbox`, the fixtures).
SANDBOX = ROOT / "pipelines" / "zendesk_sandbox"
FIRST_PARTY = ("zendesk_audit", "zendesk_sandbox", "__future__")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
# Imported only on an optional path, so declared in an extra instead of the dependencies.
OPTIONAL_IMPORTS = {"psycopg2": "postgres", "pyiceberg": "iceberg", "pytest": "test"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks: never imported at run time."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                hidden.update(id(child) for child in ast.walk(statement))
    return hidden


def imported_modules() -> dict[str, str]:
    """Third-party top-level module -> the first package file that imports it (lazy imports included)."""
    found: dict[str, str] = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *SANDBOX.rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hidden = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def declared(requirements: list[str]) -> set[str]:
    return {_normalized(Requirement(requirement).name) for requirement in requirements}


def test_every_imported_module_is_a_declared_dependency() -> None:
    modules = imported_modules()
    assert {"click", "orjson", "yaml", "dlt"} <= modules.keys()  # the scan sees lazy and eager imports
    distributions = importlib.metadata.packages_distributions()
    runtime = declared(PYPROJECT["project"]["dependencies"])
    extras = {name: declared(reqs) for name, reqs in PYPROJECT["project"]["optional-dependencies"].items()}
    problems = []
    for module, where in sorted(modules.items()):
        names = {_normalized(name) for name in distributions.get(module, [])}
        if not names:
            problems.append(f"{module} (imported in {where}) is not installed here, so its distribution is unknown")
            continue
        extra = OPTIONAL_IMPORTS.get(module)
        wanted, place = (extras[extra], f"the {extra!r} extra") if extra else (runtime, "dependencies")
        if not names & wanted:
            problems.append(f"{module} (imported in {where}) comes from {sorted(names)}: declare it in {place}")
    assert not problems, "\n".join(problems)


def test_license_file_is_the_apache_2_text_that_pyproject_names() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text and "END OF TERMS AND CONDITIONS" in text


def test_version_is_written_only_in_pyproject() -> None:
    copies = [str(path.relative_to(ROOT)) for path in [*PACKAGE.rglob("*.py"), *SANDBOX.rglob("*.py")]
              if VERSION in path.read_text(encoding="utf-8")]
    assert not copies, f"version {VERSION} is also written in {copies}: read importlib.metadata instead"
    assert "version" not in PYPROJECT["project"].get("dynamic", [])


def test_no_pytest_plugin_is_registered_for_every_project() -> None:
    assert "pytest11" not in PYPROJECT["project"].get("entry-points", {})


# ----------------------------------------------------------------------------- the wheel, installed
@dataclass
class Installed:
    """A fresh virtualenv with the built wheel installed, and the files `python -m build` made."""

    venv: Path
    sdist: Path
    wheel: Path
    build_log: str

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def command(self) -> str:
        return str(self.venv / "bin" / "zendesk-audit")

    def run(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A program of the venv, with nothing of the checkout on the path and no settings of this run."""
        full_env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith(("SOURCES__", "DESTINATION__", "MODELS__"))
        }
        full_env.update(env or {}, DLT_DATA_DIR=str(cwd / "dlt-data"), RUNTIME__LOG_LEVEL="WARNING")
        return subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL)

    def cli(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The installed `zendesk-audit` command."""
        return self.run([self.command, *args], cwd, env)


def _pip(*args: str) -> None:
    """pip of the test environment, installing into another interpreter with `--python`.

    Without PYTHONPATH: pip would take a checkout on it (or its build metadata) for an installed package.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """sdist, then the wheel built from that sdist, then a clean venv with the wheel and its dependencies."""
    if importlib.util.find_spec("build") is None:
        pytest.fail("the wheel test needs `build` (and `twine`): pip install -e '.[test]' (make test does)")
    folder = tmp_path_factory.mktemp("package")
    dist = folder / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    venv = folder / "venv"
    # No pip inside: this environment's pip installs into it (`--python`), which saves ensurepip's ~10 s.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    _pip("--python", str(venv / "bin" / "python"), "install", str(wheel))
    return Installed(venv, sdist, wheel, built.stdout + built.stderr)


def _sql_files() -> set[str]:
    return {str(path.relative_to(ROOT / "sql")) for path in (ROOT / "sql").rglob("*") if path.is_file()}


@pytest.mark.wheel
def test_sdist_and_wheel_pass_twine_check_and_both_ship_the_sql_models(installed: Installed) -> None:
    assert "Building wheel from sdist" in installed.build_log, installed.build_log[-2000:]
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(installed.sdist), str(installed.wheel)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    expected = _sql_files()
    assert {"dbt_project.yml", "models/staging/sources.yml", "models/staging/stg_audit_logs.sql",
            "models/marts/sensitive_changes.yml", "macros/versions.sql", "tests/generic/unique_key.sql",
            "seeds/business_hours.csv", "seeds/severities.csv", "seeds/source_types_by_label.csv"} <= expected
    with tarfile.open(installed.sdist) as sdist:
        prefix = f"zendesk_audit-{VERSION}/sql/"
        in_sdist = {name[len(prefix):] for name in sdist.getnames() if name.startswith(prefix)}
    assert expected <= in_sdist
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        in_wheel = {name[len("zendesk_audit/_sql/"):] for name in names if name.startswith("zendesk_audit/_sql/")}
        entry_points = wheel.read(f"zendesk_audit-{VERSION}.dist-info/entry_points.txt").decode()
    assert in_wheel == expected
    assert f"zendesk_audit-{VERSION}.dist-info/licenses/LICENSE" in names
    assert "zendesk_audit/py.typed" in names
    assert "[pytest11]" not in entry_points and "zendesk-audit = zendesk_audit.cli:main" in entry_points


@pytest.mark.wheel
def test_installed_wheel_loads_models_alerts_report_evidence_and_seeds_from_another_folder(
    installed: Installed, sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(records=3_000, seed=14)
    env = {
        "SOURCES__ZENDESK_AUDIT__BASE_URL": sandbox.base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": sandbox.config.subdomain,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_ID": sandbox.config.client_id,
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__CLIENT_SECRET": sandbox.config.client_secret,
    }
    work = tmp_path / "work"
    work.mkdir()

    where = installed.run(
        [installed.python, "-c", "import zendesk_audit.models.dbt_project as m; print(m.default_sql_dir())"], work
    )
    assert where.returncode == 0, where.stderr
    shipped = Path(where.stdout.strip())
    assert shipped.is_relative_to(installed.venv) and (shipped / "dbt_project.yml").is_file(), shipped

    version = installed.cli(["--version"], work)
    assert version.stdout.strip() == f"zendesk-audit {VERSION}", version.stderr

    load = installed.cli(["load", "--workers", "2"], work, env)
    assert load.returncode == 0, load.stderr
    assert "loaded 3,000 audit log records into duckdb" in load.stdout
    assert re.search(r"models: \d+ built, 0 refreshed, 0 unchanged, 7 seeds reloaded", load.stdout), load.stdout
    assert (work / "zendesk.duckdb").exists()

    status = installed.cli(["models", "status"], work)
    assert status.returncode == 0 and "up to date" in status.stdout and "not built" not in status.stdout, status.stderr

    alerts = installed.cli(["alerts", "--history", "--min-severity", "critical"], work)
    assert alerts.returncode == 3, alerts.stderr
    assert "critical" in alerts.stdout.lower()
    assert installed.cli(["alerts", "--min-severity", "critical"], work).returncode == 0

    report = installed.cli(["report", "--out", "report.html"], work)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("report: 3,000 records")
    assert (work / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")

    evidence = installed.cli(["evidence", "--from", "2000-01-01", "--to", "2100-01-01", "--out", "evidence"], work)
    assert evidence.returncode == 0, evidence.stderr
    assert installed.cli(["evidence", "verify", "evidence"], work).returncode == 0

    seeds = installed.cli(["models", "init-seeds", "my-seeds"], work)
    assert seeds.returncode == 0, seeds.stderr
    assert f"seeds_dir = '{work / 'my-seeds'}'" in seeds.stdout
    refused = installed.cli(["models", "init-seeds", "my-seeds"], work)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    holidays = work / "my-seeds" / "holidays.csv"
    holidays.write_text(holidays.read_text(encoding="utf-8") + "2026-12-25,Christmas\n", encoding="utf-8")
    rebuilt = installed.cli(["models", "build"], work, {"MODELS__SEEDS_DIR": str(work / "my-seeds")})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "1 seeds reloaded" in rebuilt.stdout, rebuilt.stdout


@pytest.mark.wheel
def test_installed_demo_runs_and_its_python_hint_works(installed: Installed, tmp_path: Path) -> None:
    demo = installed.cli(["demo", "--records", "1000"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "models:" in demo.stdout and "query it:" in demo.stdout
    (hint,) = [line.strip() for line in demo.stdout.splitlines() if " -c " in line]
    assert hint.startswith(f"{installed.python} -c "), hint
    code = hint.split(" -c ", 1)[1].strip('"')
    queried = installed.run([installed.python, "-c", code], tmp_path)
    assert queried.returncode == 0, queried.stderr
    assert queried.stdout.count("\n") > 5  # the five records DuckDB prints, in a box


@pytest.mark.wheel
def test_sandbox_fixtures_load_only_where_a_project_opts_in(installed: Installed, tmp_path: Path) -> None:
    """Installing the package adds no pytest plugin; `pytest_plugins` in a conftest.py turns the fixtures on."""
    _pip("--python", installed.python, "install", f"pytest=={importlib.metadata.version('pytest')}")
    (tmp_path / "test_dag.py").write_text("def test_dag(sandbox):\n    assert sandbox.base_url.startswith('http://127.0.0.1:')\n")
    plain = installed.run([installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert plain.returncode == 1 and "fixture 'sandbox' not found" in plain.stdout, plain.stdout[-2000:]
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["zendesk_sandbox.pytest_plugin"]\n')
    opted_in = installed.run([installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert opted_in.returncode == 0 and "1 passed" in opted_in.stdout, opted_in.stdout[-2000:]
