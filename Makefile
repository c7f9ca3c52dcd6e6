PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# The demo needs tablever and its runtime dependencies only; tests and lint add [dev].
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint bench bench-scale bench-s3 bench-spark soak clean fuzz fuzz-sql screenshots

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python examples/demo.py --warehouse demo-warehouse

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check tablever tests benchmarks examples
	$(BIN)/mypy

# The page of tablever ui in headless Chromium (/usr/bin/chromium), saved as docs/ui-*.png
screenshots: $(STAMP)
	$(BIN)/python -m tests.ui.screenshots docs

clean:
	rm -rf $(VENV) demo-warehouse .pytest_cache

bench:
	bash benchmarks/run.sh $(ARGS)

# tablever's scale curves (live files, history, rows), long: make bench-scale ARGS="--max 10000"
bench-scale:
	BENCH_MODULE=benchmarks.scale bash benchmarks/run.sh $(ARGS)

# tablever, deltalake and Lance on one local S3 server (moto): make bench-s3 ARGS="--commits 50"
bench-s3:
	BENCH_MODULE=benchmarks.s3 bash benchmarks/run.sh $(ARGS)

# Spark local mode over tablever: make bench-spark ARGS="--rows 2000000"
bench-spark: $(STAMP)
	$(BIN)/python -m benchmarks.spark $(ARGS)

soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak

# The long differential run against DuckDB, as long as it is given: FUZZ_SECONDS=600 make fuzz
fuzz: $(STAMP)
	$(BIN)/python -m tests.differential --seconds $(or $(FUZZ_SECONDS),300)

# The long model run of random DDL and DML through Warehouse.sql against DuckDB
# (tests/query/test_sql_model.py): SQL_MODEL_EXAMPLES=5000 make fuzz-sql
fuzz-sql: $(STAMP)
	SQL_MODEL_EXAMPLES=$(or $(SQL_MODEL_EXAMPLES),2000) $(BIN)/python -m pytest -q -p no:xdist \
		tests/query/test_sql_model.py
