# Every target works on a fresh clone: the venv is created and the project installed on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt bench clean axe

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

test: lint axe
	$(BIN)/python -m pytest -n 2 -q

# axe-core checks the pages' accessibility in the browser tests (test-only, git-ignored).
AXE := tests/.axe/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE):
	@if command -v npm >/dev/null; then \
		npm install --prefix tests/.axe --no-audit --no-fund --loglevel=error axe-core@4; \
	else echo "npm not found: the accessibility test (axe-core) will be skipped; CI installs npm"; fi

fmt: $(STAMP)
	$(BIN)/ruff format importer tests benchmarks samples
	$(BIN)/ruff check --fix importer tests benchmarks samples

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/.axe
