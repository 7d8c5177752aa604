# One task runner for developers and CI. `make demo` and `make test` are the whole set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: demo serve test lint format bench cli-docs openapi screenshots install install-dev clean

$(BIN)/activate:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Segmint needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/activate pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Run Segmint: demo data on first start (embedded DuckDB), then the web app on 127.0.0.1:8000.
demo: $(VENV)/.installed
	$(BIN)/segmint demo

## The whole test suite (what CI runs).
test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

## Benchmarks (not part of the test suite): import speed and engine speed against references,
## full runs (engine + snapshot + history + swap) against the engine alone.
bench: $(VENV)/.installed-dev
	$(PY) -m bench $(BENCH_ARGS)

## Refresh the --help blocks of docs/cli.md after changing a command (a test checks them).
cli-docs: $(VENV)/.installed-dev
	$(PY) -m tests.cli.test_docs

## The main pages at 1366x768 on demo data, into docs/screenshots/ (linked from the README).
screenshots: $(VENV)/.installed-dev
	$(PY) -m tests.web.screenshots

## Refresh docs/openapi.json after changing the API (a test compares it with the live schema).
openapi: $(VENV)/.installed-dev
	$(PY) -m tests.api.test_openapi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
