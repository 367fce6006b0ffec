# The two commands of the README: `make run` and `make test`. Both set themselves up first.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DATA_DIR ?= ./data
ARGS ?=

.PHONY: run test lint typecheck unit setup clean bench support-matrix wheels

setup: $(STAMP)

# The native decoders are rebuilt (pip install -e) whenever their Cython sources change.
NATIVE_SRC := setup.py $(wildcard src/vigil/ingest/*.pyx src/vigil/ingest/*.pxi src/vigil/ingest/otlp/*.pyx src/vigil/ingest/otlp/*.pxi)

$(STAMP): pyproject.toml $(NATIVE_SRC)
	@test -n "$(PYTHON)" || { echo "vigil needs Python >= 3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@# The distribution was called "vigil" before (a name taken on PyPI): drop that install.
	@$(BIN)/python -m pip uninstall -q -y vigil 2>/dev/null || true
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/vigil serve --data-dir $(DATA_DIR) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest $(ARGS)

test: lint typecheck wheels unit

# Both distributions as wheels in dist/: vigil-server (with the native decoders) and the
# light vigil-server-sdk (sdk/pyproject.toml; tests/test_sdk_package.py installs it alone).
wheels: $(STAMP)
	rm -rf dist
	$(BIN)/python -m pip wheel -q --disable-pip-version-check --no-deps -w dist .
	$(BIN)/python -m pip wheel -q --disable-pip-version-check --no-deps -w dist ./sdk
	@rm -rf src/vigil_server_sdk.egg-info sdk/build  # the SDK build's leftovers
	@ls dist

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache dist sdk/build

# The README's AWS support matrix, from the services' operation tables (tests check it).
support-matrix: $(STAMP)
	$(BIN)/python -m vigil.api.aws.support README.md
