# predq — `make` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install models demo serve test unit integration lint contract clean bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## create .venv with every dependency

models: $(STAMP) ## write the demo models into MODEL_DIR (default models/)
	$(PY) -m scripts.make_models

demo: $(STAMP) ## start Redis, the API and two workers; score a demo batch end to end; stop
	$(PY) -m scripts.demo

serve: $(STAMP) ## run the local stack on :8000 until Ctrl-C
	$(PY) -m scripts.stack --port $${PORT:-8000}

test: $(STAMP) ## lint, then every test (unit and integration)
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q

unit: $(STAMP) ## the fast unit tests only
	$(PY) -m pytest -q tests/unit

integration: $(STAMP) ## the integration tests (real Redis, API and workers)
	$(PY) -m pytest -q tests/integration

lint: $(STAMP) ## ruff and mypy --strict
	$(VENV)/bin/ruff check api shared worker scripts tests
	$(VENV)/bin/mypy

contract: $(STAMP) ## the outside contract suite against a running `make serve`
	PYTHONDONTWRITEBYTECODE=1 ACCEPT_URL=$${ACCEPT_URL:-http://127.0.0.1:8000} ACCEPT_MODEL_DIR=$${MODEL_DIR:-models} \
		$(PY) -m pytest -q -p no:cacheprovider ../shared/contract

clean: ## remove the virtualenv, models and caches
	rm -rf $(VENV) models .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP) ## throughput, latency and memory figures on this machine (not a test)
	$(PY) -m scripts.bench
