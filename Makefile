# Every target uses its own virtualenv in .venv, created on first use, so a
# fresh machine needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := docling_hybrid_cli tests scripts

.DEFAULT_GOAL := help
.PHONY: help install lint typecheck unit test demo benchmark e2e-vllm clean

help:  ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install the tool with its test tools

lint: $(STAMP)  ## ruff check + format check
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(STAMP)  ## mypy --strict on the package
	$(BIN)/mypy

unit: $(STAMP)  ## pytest only
	$(BIN)/python -m pytest -q

test: lint typecheck unit  ## Everything CI runs: lint, types, tests

demo: $(STAMP)  ## Convert a sample PDF the repo ships (no server needed)
	$(BIN)/docling-hybrid-ocr convert samples/sample.pdf -o demo-out/sample.md
	@echo "--- demo-out/sample.md (first lines) ---"
	@head -n 20 demo-out/sample.md

e2e-vllm: $(STAMP)  ## End-to-end tests against a real vLLM on CPU (~15 min, ~8 GB RAM; not in `make test`)
	scripts/e2e_vllm.sh all

clean:  ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-out
