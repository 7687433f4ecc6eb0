# sermsim — two commands: `make run` and `make test`. Both build .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test calibrate lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## The flagship job: the tissue-selectivity profile of every agent, written under out/.
run: $(STAMP)
	$(BIN)/sermsim profile --all --out out

## Every test: lint, types, layer contract, unit/oracle/property/end-to-end tests.
test: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

## Refit the selectivity layer to data/selectivity_targets.yaml and write the values back.
calibrate: $(STAMP)
	$(BIN)/python scripts/calibrate_selectivity.py --write

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
