# sermsim — two commands: `make run` and `make test`. Both build .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test fuzz calibrate ensemble calibrate-check validate bench sensitivity lint clean load

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## The flagship job: the tissue-selectivity profile of every agent, five years of a typical
## 55-year-old postmenopausal woman on each agent, a five-arm virtual trial in postmenopausal
## women, her physiology on raloxifene as SBML, and the benefit/risk comparison report for
## three people (a 55-year-old with a uterus at 3% five-year breast-cancer risk, the same woman
## after hysterectomy, a 68-year-old with osteoporosis and a prior VTE); everything under out/.
run: $(STAMP)
	$(BIN)/sermsim profile --all --out out
	$(BIN)/sermsim simulate --patient examples/postmenopausal_55.yaml --regimen all --years 5 --out out/simulate
	$(BIN)/sermsim trial run examples/flagship_trial.yaml --out out/trial
	$(BIN)/sermsim export sbml out/postmenopausal_55_raloxifene.xml --patient examples/postmenopausal_55.yaml --regimen raloxifene:60 --years 5
	$(BIN)/sermsim compare --patient examples/woman_55_uterus_risk3.yaml --out out/compare/woman_55_uterus_risk3
	$(BIN)/sermsim compare --patient examples/woman_55_hysterectomy_risk3.yaml --out out/compare/woman_55_hysterectomy_risk3
	$(BIN)/sermsim compare --patient examples/woman_68_osteoporosis_prior_vte.yaml --out out/compare/woman_68_osteoporosis_prior_vte

## Every test: lint, types, layer contract, unit/oracle/property/end-to-end tests.
test: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks conftest.py
	$(BIN)/ruff format --check src tests scripts benchmarks conftest.py
	$(BIN)/mypy
	$(BIN)/lint-imports
	@# The browser test drives Debian's Chromium (never a downloaded one); CI runs as root.
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/python -m pytest -q

## Fuzzing of every input with many more examples than `make test` runs: the parsers (patient,
## regimen, trial spec, inclusion language, every CLI option), valid patients, regimens and
## small trials through the engine (results finite), and the HTTP API against its own OpenAPI
## schema (schemathesis); prints "fuzz: N cases tried, F failed".
FUZZ_EXAMPLES ?= 1500
fuzz: $(STAMP)
	rm -f .pytest_cache/fuzz.json
	SERMSIM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SERMSIM_FUZZ_REPORT=.pytest_cache/fuzz.json \
		$(BIN)/python -m pytest -q tests/fuzz; status=$$?; \
		$(BIN)/python scripts/fuzz_summary.py .pytest_cache/fuzz.json; exit $$status

## Refit the selectivity layer (data/selectivity_targets.yaml, the seeds' tables), then every
## block of data/calibration/free_parameters.yaml (physiology, then the outcome links) with
## `sermsim calibrate`, writing the values back into the data files; then rebuild the shipped
## posterior and parameter ensemble around the new fit.
calibrate: $(STAMP)
	$(BIN)/python scripts/calibrate_selectivity.py --write
	$(BIN)/sermsim calibrate --out out/calibrate --write
	$(MAKE) ensemble

## The shipped Laplace posterior (all blocks) and the 200-member ensemble (outcome links),
## around the values the data files hold now (no fit); about 10 minutes on 2 cores.
ensemble: $(STAMP)
	$(BIN)/sermsim calibrate --no-fit --ensemble 200 --seed 7 --out out/calibrate-shipped
	cp out/calibrate-shipped/ensemble.yaml out/calibrate-shipped/posterior.yaml src/sermsim/data/calibration/

## The calibration benchmark of the calibration issue: every block started from the shipped
## values moved by +-30 %, on the full calibration trials; fit.json's "check" says whether the
## objective came back within 5 % and every target the shipped fit meets is still met.
calibrate-check: $(STAMP)
	$(BIN)/sermsim calibrate --perturb 0.3 --seed 1 --out out/calibrate-perturbed

## Every calibration target of ../shared/calibration/trials.yaml through its trial spec;
## the HTML report goes to out/validation.
validate: $(STAMP)
	$(BIN)/sermsim validate --out out/validation

## Benchmarks (timings are measured, never asserted in tests).
bench: $(STAMP)
	$(BIN)/sermsim bench
	$(BIN)/python benchmarks/engine_scale.py --out docs
	$(BIN)/python benchmarks/trial_speed.py

## Global sensitivity for the README (docs/figures): 5-year spine BMD change on raloxifene
## 60 mg and the invasive-breast-cancer relative risk on tamoxifen 20 mg (a few minutes each),
## each parameter over its shipped value +- 1 posterior sd (at +- 2 sd the bone model diverges
## in a corner of the bone block's poorly identified posterior; see the README).
sensitivity: $(STAMP)
	$(BIN)/sermsim sensitivity --patient examples/postmenopausal_55.yaml --regimen raloxifene:60 --outcome bmd_lumbar_spine_pct --years 5 --trajectories 20 --width 1 --out out/sensitivity/raloxifene_spine_bmd
	$(BIN)/sermsim sensitivity --patient examples/woman_55_uterus_risk3.yaml --regimen tamoxifen:20 --outcome invasive_breast_cancer --years 5 --trajectories 20 --width 1 --out out/sensitivity/tamoxifen_breast_rr
	mkdir -p docs/figures
	cp out/sensitivity/raloxifene_spine_bmd/tornado.png docs/figures/sensitivity_raloxifene_spine_bmd.png
	cp out/sensitivity/tamoxifen_breast_rr/tornado.png docs/figures/sensitivity_tamoxifen_breast_rr.png

## The web API under load (benchmarks/web_load.py, a few minutes): `sermsim serve` on loopback
## driven by 1 to 96 concurrent clients, a soak, hostile bodies and connections, a request past
## the time limit; latency, status codes and the server's memory to docs/figures/web_load.json.
load: $(STAMP)
	$(BIN)/python benchmarks/web_load.py --out docs/figures/web_load.json

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks conftest.py
	$(BIN)/ruff format --check src tests scripts benchmarks conftest.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
