# Every target installs what it needs first, so each works on a fresh clone. One venv, .venv:
# `make demo` installs the package with the DuckDB shell only; `make test` (and lint, bench, chaos,
# docs) adds the test tools, Dagster, PySpark, the PostgreSQL driver and MkDocs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
# Superset in its own venv: it pins its own dependencies (bi/requirements.txt, bi/constraints.txt).
BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.installed
BI_HOME := .superset-bi

.PHONY: install install-demo browser screenshots demo test bench bench-process hyperfine chaos lint docs docs-build clean \
	bi bi-install bi-test bi-screenshot

install: $(TEST_STAMP)

install-demo: $(DEMO_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[shell]'
	touch $(DEMO_STAMP)

# The test stamp covers the demo's install too: the test extras are a superset.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,shell,spark,docs]'
	touch $(TEST_STAMP) $(DEMO_STAMP)

# Debian's Chromium and poppler-utils for the report tests (they render the HTML and the PDF headless and
# read the PDF's pages back); the tests that need them skip with a reason where apt is missing.
browser:
	@(test -x /usr/bin/chromium && test -x /usr/bin/pdftoppm) || \
		(command -v apt-get >/dev/null && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk \
		 poppler-utils >/dev/null) || \
		echo "chromium or poppler-utils could not be installed: the report's browser and PDF tests will skip"

# The docs' report screenshots (docs/report-html.png, docs/report-pdf.png), from the current code.
screenshots: install browser
	$(BIN)/python docs/screenshots.py

demo: install-demo
	$(BIN)/zendesk-audit demo

# Includes the wheel test (-m wheel): builds the sdist and wheel, installs the wheel in a fresh venv,
# and the docs' strict build (tests/test_docs.py runs `mkdocs build --strict`).
# Three workers (pytest-xdist) on the two cores, each taking whole test files: a file's module fixtures
# (a sandbox, a loaded database, the Spark session) are built once, in one worker. With two, a core sat
# idle a third of the run (`/usr/bin/time`: 163% of 200%) while tests waited on sleeps, backoffs and
# child processes; the third worker fills those waits. The files come in the order
# tests/conftest.py gives them (those with long tests first), not xdist's (most tests first).
# The tests' temporary files (tmp_path, dlt's state folders, the DuckDB files: about 2 GB a run) go to
# memory where /dev/shm has room for them: DuckDB's checkpoints and dlt's renames then never wait for the
# disk (7% less wall time on three model-heavy files). Removed after a green run; kept after a red one.
TEST_TMP := $(shell [ -w /dev/shm ] && [ "$$(df -Pk /dev/shm | awk 'NR==2 {print $$4}')" -gt 6000000 ] \
	&& echo /dev/shm/zendesk-audit-tests || echo $${TMPDIR:-/tmp}/zendesk-audit-tests)
# The package's bytecode is written first, as pip writes an installed wheel's: where the environment sets
# PYTHONDONTWRITEBYTECODE (this machine's does), every Python process the suite starts would otherwise
# compile the editable package's sources again (about 0.1 s of CPU each, measured on `import`).
test: install browser
	rm -rf $(TEST_TMP) && mkdir -p $(TEST_TMP)
	$(BIN)/python -m compileall -q -j 0 pipelines
	TMPDIR=$(TEST_TMP) $(BIN)/python -m pytest -q -rs -n 3 --dist loadfile --no-loadscope-reorder \
		--basetemp=$(TEST_TMP)/pytest
	rm -rf $(TEST_TMP)

# The documentation site: docs/generate.py writes every command output the README and docs/ show
# (the --help of each command, `make demo`'s output, a `load --json`; about half a minute), then
# MkDocs builds site/ with --strict: a broken link or anchor fails. tests/test_docs.py checks the
# outputs against the code.
docs: install
	$(BIN)/python docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The strict build alone, in seconds (`make test` runs it in tests/test_docs.py).
docs-build: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

chaos: install
	$(BIN)/python tests/chaos.py --records 100000 --kills 12

# pandas is for the seed-style baseline only: it goes to its own folder, not the venv, because
# DuckDB's client imports pandas whenever it is installed, which would add ~40 MB to the loader.
bench: install hyperfine
	test -d bench/.baseline-deps/pandas -a -d bench/.baseline-deps/numpy || \
		$(BIN)/python -m pip install --quiet --no-deps --target bench/.baseline-deps 'pandas==3.1.1' 'numpy==2.4.6'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/whole_process.py

# Issue 26's table: each row a whole `zendesk-audit` process, timed by hyperfine (Debian's package).
bench-process: install hyperfine
	$(BIN)/python bench/whole_process.py

hyperfine:
	@command -v hyperfine >/dev/null || \
		(command -v apt-get >/dev/null && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hyperfine >/dev/null) || \
		(echo "hyperfine could not be installed: bench/whole_process.py needs it" && false)

# Superset (its own venv, .venv-bi) with a local SQLite metadata database and an admin login in
# .superset-bi/ (secret key and password generated once per install, never committed).
$(BI_STAMP): bi/requirements.txt bi/constraints.txt
	test -x $(BI_VENV)/bin/python || $(PYTHON) -m venv $(BI_VENV)
	$(BI_VENV)/bin/python -m pip install --quiet -r bi/requirements.txt -c bi/constraints.txt
	touch $(BI_STAMP)

bi-install: $(BI_STAMP)
	bi/superset.sh init

# The local try-out: the demo's database (made once), Superset on 127.0.0.1:8088 with the dashboard
# imported through `zendesk-audit dashboards superset`; prints the URL and the login. Ctrl-C stops it.
bi: install-demo bi-install
	test -f zendesk_demo.duckdb || $(BIN)/zendesk-audit demo
	bi/try_out.sh $(BIN)/zendesk-audit zendesk_demo.duckdb $${BI_PORT:-8088}

# Not in `make test` (2.5 to 14 minutes for its three cases, by the machine's load), but in CI after it
# (.ci/run): Superset on
# loopback, the bundle imported through the API, the dashboard read in headless Chromium and compared
# with the marts, a load and a models build while it refreshes; on the DuckDB file, on a published
# read copy of it, and on PostgreSQL.
bi-test: install browser bi-install
	$(BIN)/python -m pytest -q -rs -s -n 0 -m bi tests/test_superset_dashboard.py

# The README's dashboard screenshot (docs/superset-dashboard.png), from the current code.
bi-screenshot: install browser bi-install
	$(BIN)/python docs/superset_screenshot.py

lint: install
	$(BIN)/ruff check pipelines tests bench docs

clean:
	rm -rf $(VENV) $(BI_VENV) $(BI_HOME) .pytest_cache zendesk_demo.duckdb .zendesk_audit site
