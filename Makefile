# GridPatrol: `make run` starts the app on the demo district; `make test` runs everything.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
BIN := $(VENV)/bin
PORT ?= 8501
API_PORT ?= 8502
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-test assets seed lint bench clean

$(BIN)/python:
	python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts

static/vendor/.stamp: node_modules/.package-lock.json layers/assets.py tools/vendor_assets.py $(VENV)/.installed
	$(PY) -m tools.vendor_assets
	touch $@

## map assets (Leaflet and plugins) served by the app itself, for offline networks
assets: static/vendor/.stamp

## create or migrate the store and load the demo district if it is empty
seed: install
	$(BIN)/gridpatrol init
	$(BIN)/gridpatrol demo --if-empty

## the app, and the HTTP API beside it (stopped with the app)
run: install assets seed
	$(BIN)/gridpatrol api --port $(API_PORT) & api=$$!; \
	trap 'kill $$api 2>/dev/null' EXIT INT TERM; \
	$(BIN)/streamlit run serve.py --server.port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install-test assets lint
	$(BIN)/pytest -n 2

bench: install-test assets
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache .mypy_cache .ruff_cache
