# Every target installs what it needs first, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test bench chaos lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,shell,spark]'
	touch $(STAMP)

# Debian's Chromium, for the report test (it renders the HTML report headless); skipped where apt is missing.
browser:
	@test -x /usr/bin/chromium || \
		(command -v apt-get >/dev/null && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null) || \
		echo "chromium could not be installed: the report's browser test will skip"

demo: install
	$(BIN)/zendesk-audit demo

test: install browser
	$(BIN)/python -m pytest -q -rs

chaos: install
	$(BIN)/python tests/chaos.py --records 100000 --kills 12

# pandas is for the seed-style baseline only: it goes to its own folder, not the venv, because
# DuckDB's client imports pandas whenever it is installed, which would add ~40 MB to the loader.
bench: install
	test -d bench/.baseline-deps/pandas -a -d bench/.baseline-deps/numpy || \
		$(BIN)/python -m pip install --quiet --no-deps --target bench/.baseline-deps 'pandas==3.1.1' 'numpy==2.4.6'
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check pipelines tests bench

clean:
	rm -rf $(VENV) .pytest_cache zendesk_demo.duckdb .zendesk_audit
