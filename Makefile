# Two commands on a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export RAY_USAGE_STATS_ENABLED := 0
# pytest-xdist workers of `make test`: the tests wait on processes and servers much of the
# time, so two workers fit a 2-core machine (the one local Ray's tests run in one of them)
TEST_WORKERS ?= 2
# pip installs without byte-compiling every module of every package (~40 s of a 2-core
# machine's install, most of them never imported); Python compiles what is imported, once, and
# keeps it, which an inherited PYTHONDONTWRITEBYTECODE would make it redo in every process.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test lint typecheck format ui bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-compile --no-deps -e examples/team_metrics
	@touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: trajectory_assets/defs/dagster_local.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp trajectory_assets/defs/dagster_local.yaml $(DAGSTER_HOME)/dagster.yaml

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/trajectory-assets demo --lake demo/lake --days 3 --runtime ray

test: $(STAMP)
	$(BIN)/ruff check trajectory_assets tests benchmarks
	$(BIN)/ruff format --check trajectory_assets tests benchmarks
	$(BIN)/mypy trajectory_assets tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check trajectory_assets tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy trajectory_assets tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format trajectory_assets tests benchmarks
	$(BIN)/ruff check --fix trajectory_assets tests benchmarks

UI_LAKE ?= $(CURDIR)/demo/lake
UI_PORT ?= 3000

ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	TRAJECTORY_ASSETS_LAKE=$(UI_LAKE) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(UI_PORT)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

# The user path against the DuckDB peer; BENCH_* variables choose sizes, repetitions, runtimes
# (benchmarks/README.md). Not part of `make test`.
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf demo .dagster_home .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .grimp_cache
