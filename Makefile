# Every target works on a fresh clone: the venv is created and the project installed on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadimport demo

lint: $(STAMP)
	$(BIN)/ruff check importer tests benchmarks samples
	$(BIN)/ruff format --check importer tests benchmarks samples
	$(BIN)/mypy importer
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -n 2 -q

fmt: $(STAMP)
	$(BIN)/ruff format importer tests benchmarks samples
	$(BIN)/ruff check --fix importer tests benchmarks samples

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
