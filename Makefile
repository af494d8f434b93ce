# predq — `make` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install models demo serve test unit integration faults lint contract clean up down logs docker-smoke lock bench \
	secrets mlflow-venv

DOCKERFILES := Dockerfile.api Dockerfile.worker Dockerfile.flower docker/lab/Dockerfile.redis
COMPOSE ?= docker compose
WORKERS ?= 1
# make up MODELS=dir serves the models in dir (docker-compose.models.yml); MONITORING=1 adds Flower, Prometheus
# and Grafana (monitoring/); EXTRA_PACKAGES="lightgbm==4.7.0" adds packages your models need to both images.
UP_ENV := $(if $(MODELS),MODELS_PATH=$(abspath $(MODELS))) $(if $(filter 1,$(MONITORING)),WORKER_MONITORING=1) \
	$(if $(EXTRA_PACKAGES),EXTRA_PACKAGES="$(EXTRA_PACKAGES)")
UP_FILES := $(if $(MODELS),-f docker-compose.yml -f docker-compose.models.yml)
UP_PROFILES := $(if $(filter 1,$(MONITORING)),--profile monitoring)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt client/pyproject.toml
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

faults: $(STAMP) ## the fault suite: kills and restarts real Redis, API and workers (also run by `make test`)
	$(PY) -m pytest -q tests/faults

lint: $(STAMP) ## ruff, mypy --strict, the import contract (pyproject.toml) and hadolint
	$(VENV)/bin/ruff check api shared worker scripts tests client
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/hadolint $(DOCKERFILES)

contract: $(STAMP) ## the outside contract suite against a running `make serve`
	PYTHONDONTWRITEBYTECODE=1 ACCEPT_URL=$${ACCEPT_URL:-http://127.0.0.1:8000} ACCEPT_MODEL_DIR=$${MODEL_DIR:-models} \
		$(PY) -m pytest -q -p no:cacheprovider ../shared/contract

up: .env secrets ## build and start the Docker stack on :8000 (WORKERS=N, MONITORING=1, MODELS=dir, EXTRA_PACKAGES=…)
	$(UP_ENV) $(COMPOSE) $(UP_FILES) $(UP_PROFILES) up --build --detach --wait --scale worker=$(WORKERS)
	@echo "predq is up on the API port (API_PORT in .env, default 8000): GET /readyz; /jobs and /models want a key from api_keys in PREDQ_SECRETS_DIR (default secrets/); make logs, make down"

down: ## stop and remove the Docker stack's containers (Redis's volume stays)
	$(COMPOSE) --profile monitoring down --remove-orphans

logs: ## follow the Docker stack's logs
	$(COMPOSE) --profile monitoring logs --follow --tail 100

.env: # made by `make up` when missing: .env from .env.example, with random secrets
	$(PYTHON) -m scripts.deploy_secrets --new-env .env

secrets: .env ## the Docker secrets: api_keys (one random key when missing) and redis-users.acl (from .env) in PREDQ_SECRETS_DIR
	$(PYTHON) -m scripts.deploy_secrets --env-file .env

docker-smoke: $(STAMP) ## build the images, run the compose stack here, score, scale, stop a worker, tear down
	$(PY) -m scripts.docker_smoke

lock: ## re-pin constraints.txt (every package the images install) from the requirements files
	rm -rf .stack/lock-venv && $(PYTHON) -m venv .stack/lock-venv
	.stack/lock-venv/bin/pip install --quiet -r requirements.txt -r requirements-flower.txt
	{ grep '^#' constraints.txt; .stack/lock-venv/bin/pip freeze --all | grep -viE '^(pip|setuptools|wheel)=='; } \
		> constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf .stack/lock-venv

clean: ## remove the virtualenv, models and caches
	rm -rf $(VENV) $(MLFLOW_VENV) models .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP) $(MLFLOW_STAMP) ## throughput, latency, memory, scheduling and by-reference figures (not a test); predq vs MLflow
	$(PY) -m scripts.bench
	$(PY) -m scripts.bench_sched
	$(PY) -m scripts.bench_reference
	$(PY) -m scripts.bench_mlflow

$(MLFLOW_STAMP): scripts/requirements-mlflow.txt
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install --quiet -r scripts/requirements-mlflow.txt
	touch $(MLFLOW_STAMP)

mlflow-venv: $(MLFLOW_STAMP) ## MLflow's scoring server in its own virtualenv (.venv-mlflow), for make bench
