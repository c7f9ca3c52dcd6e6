PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench soak clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py --warehouse demo-warehouse

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check tablever tests benchmarks examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-warehouse .pytest_cache

bench:
	bash benchmarks/run.sh $(ARGS)

soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak
