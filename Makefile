# Wellhead: every command a developer or CI needs. On a fresh machine `make demo` and `make test` install
# what they need themselves (npm packages, a Python venv, Debian's prometheus) and start their own servers.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
RUN := .run

# Anvil, forge, cast, ganache from npm; the solc-js front for py-solc-x, brownie and forge.
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/tools/bin
export PYTHONUNBUFFERED := 1
export PYTHONDONTWRITEBYTECODE := 1

FORGE_TEST := forge test --no-match-path 'tests/forge/bench/*'
PYTEST := $(BIN)/python -m pytest -W ignore::FutureWarning -p no:cacheprovider

.PHONY: help setup build test test-forge test-python fuzz demo bench slither standalone clean app app-bundle

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# ---------------------------------------------------------------------------------------------- set-up

setup: $(RUN)/npm.stamp $(RUN)/venv.stamp $(RUN)/prometheus.stamp $(RUN)/chromium.stamp ## install npm tools, the Python venv, prometheus, chromium

$(RUN)/npm.stamp: package.json package-lock.json
	@mkdir -p $(RUN)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# eth-brownie pins python-dotenv==0.16 while pydantic-settings needs >=0.21; brownie runs with the newer
# one, so brownie goes first and the project's own requirements second (pip then warns, and that is all).
$(RUN)/venv.stamp: pyproject.toml
	@mkdir -p $(RUN)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip wheel
	$(BIN)/python -m pip install --quiet --disable-pip-version-check eth-brownie==1.22.2
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "dependency conflicts\|python-dotenv\|resolver does not" || true
	$(BIN)/python -c "import brownie, oracle, pydantic_settings, coincurve"
	@touch $@

# Debian's prometheus and promtool: the daemon's tests query a real Prometheus server.
$(RUN)/prometheus.stamp:
	@mkdir -p $(RUN)
	if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	fi
	prometheus --version 2>&1 | head -1
	@touch $@

# Debian's chromium: the investor app's browser tests drive it with Playwright (never `playwright install`).
$(RUN)/chromium.stamp:
	@mkdir -p $(RUN)
	if ! command -v chromium >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi
	chromium --version
	@touch $@

# ---------------------------------------------------------------------------------------------- build

build: setup ## compile the contracts (brownie and forge, one pinned solc 0.8.30)
	brownie compile
	forge build --quiet

# ---------------------------------------------------------------------------------------------- tests

test: build ## every test: forge fuzz + invariants, brownie/pytest (Anvil, Prometheus, SQLite), daemon alone, slither gate
	$(MAKE) --no-print-directory test-forge
	$(MAKE) --no-print-directory test-python
	$(MAKE) --no-print-directory standalone
	$(MAKE) --no-print-directory slither

test-forge:
	$(FORGE_TEST)

test-python:
	$(PYTEST) tests

fuzz: build ## the same fuzz and invariant properties, ten times deeper (10,000 runs)
	FOUNDRY_PROFILE=deep $(FORGE_TEST)

# The daemon must run without brownie: install the package alone in a throw-away venv and aggregate.
standalone: setup
	rm -rf $(RUN)/standalone && $(PYTHON) -m venv $(RUN)/standalone
	$(RUN)/standalone/bin/python -m pip install --quiet --disable-pip-version-check .
	$(RUN)/standalone/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('brownie') is not None)"
	$(RUN)/standalone/bin/python -m oracle aggregate --metrics tests/data/dcgm-sample.om.gz \
	  --assets tests/data/dcgm-sample-assets.json > $(RUN)/standalone/reports.jsonl
	test "$$(wc -l < $(RUN)/standalone/reports.jsonl)" -eq 4
	@echo "standalone: oracle installed and ran without brownie"

# ---------------------------------------------------------------------------------------------- run

demo: build ## the main job on a local Anvil this starts and stops itself
	$(BIN)/python scripts/demo.py

app-bundle: setup ## build the investor app's browser bundle (esbuild + viem, pinned in package.json)
	$(BIN)/python -m app.bundle

# `make app` starts Anvil with the demo world; `make app RPC_URL=http://...` attaches to a running node that
# has deployments/<chainId>.json.
app: build app-bundle ## the investor app: demo chain (or RPC_URL=...), indexer and server; prints the URL
	$(BIN)/python -m app $(if $(RPC_URL),--rpc-url $(RPC_URL)) $(if $(APP_PORT),--port $(APP_PORT))

bench: build ## gas and throughput table with ratios; writes reports/bench.json
	$(BIN)/python scripts/bench.py

slither: build ## static analysis: every High/Medium finding must be explained in slither.triage.json
	test -x $(RUN)/slither/bin/slither || { $(PYTHON) -m venv $(RUN)/slither && \
	  $(RUN)/slither/bin/python -m pip install --quiet --disable-pip-version-check slither-analyzer==0.11.6; }
	$(RUN)/slither/bin/slither . --config-file slither.config.json --exclude-low --json $(RUN)/slither.json >/dev/null 2>&1 || true
	$(BIN)/python scripts/slither_gate.py $(RUN)/slither.json

clean: ## remove build outputs and local state (keeps node_modules and the venv)
	rm -rf build out forge-cache reports $(RUN)/*.log $(RUN)/standalone
