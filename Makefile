# Every target installs what it needs first, so each works on a fresh clone. One venv, .venv:
# `make demo` installs the package with the DuckDB shell only; `make test` (and lint, bench, chaos,
# docs) adds the test tools, Dagster, PySpark, the PostgreSQL driver and MkDocs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-demo browser screenshots demo test bench bench-process hyperfine chaos lint docs docs-build clean

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
# Two workers (pytest-xdist), each taking whole test files: a file's module fixtures (a sandbox, a
# loaded database, the Spark session) are built once, in one worker. The files come in the order
# tests/conftest.py gives them (those with long tests first), not xdist's (most tests first).
test: install browser
	$(BIN)/python -m pytest -q -rs -n 2 --dist loadfile --no-loadscope-reorder

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

lint: install
	$(BIN)/ruff check pipelines tests bench docs

clean:
	rm -rf $(VENV) .pytest_cache zendesk_demo.duckdb .zendesk_audit site
