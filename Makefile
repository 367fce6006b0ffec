# The two commands of the README: `make run` and `make test`. Both set themselves up first.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DATA_DIR ?= ./data
ARGS ?=

.PHONY: run test lint typecheck unit setup clean bench postgres

setup: $(STAMP)

# The native decoders are rebuilt (pip install -e) whenever their Cython sources change.
NATIVE_SRC := setup.py $(wildcard src/vigil/ingest/*.pyx src/vigil/ingest/*.pxi src/vigil/ingest/otlp/*.pyx src/vigil/ingest/otlp/*.pxi)

$(STAMP): pyproject.toml $(NATIVE_SRC)
	@test -n "$(PYTHON)" || { echo "vigil needs Python >= 3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
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

unit: $(STAMP) postgres
	$(BIN)/pytest $(ARGS)

# The state tests against a real PostgreSQL use Debian's server; installed when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
