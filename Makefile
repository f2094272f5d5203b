# rainfuse — one entry point per task. Every target creates or refreshes .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYART_QUIET := 1
DAGSTER_HOME := $(or $(DAGSTER_HOME),$(CURDIR)/data/dagster_home)

.PHONY: install test lint format demo ui bench clean

# torch==2.13.0 first: its CPU wheel lies on these machines; an unpinned torch pulls a multi-GB CUDA
# build. On a GPU host the same pin resolves to the CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,ops]"
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# pytest exits 5 when it collected no test: make treats that as the failure it is.
test: lint
	$(BIN)/dagster definitions validate -w workspace.yaml
	$(BIN)/pytest -q --durations=15

demo: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/rainfuse demo

ui: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev -w workspace.yaml

bench: $(STAMP)
	$(BIN)/rainfuse bench all

clean:
	rm -rf data/storage data/products data/dagster_home .pytest_cache
