# The two commands of the README are `make demo` and `make test`; everything else is for developers.
#
# Each target installs into .venv only the extras of pyproject.toml it needs (`make test`: test and
# docs; `make bench`: bench; `make test-e2e`: test and e2e ...). A stamp file per set of extras,
# named after them and a hash of pyproject.toml, tells whether that set is installed; a change to
# pyproject.toml invalidates every stamp. `make venv` installs the `dev` extra: all of them.
# uv does the installing (seconds instead of a minute with pip) and compiles the bytecode once
# (every test starts Python processes; without .pyc files each one compiles Airflow again, as with
# PYTHONDONTWRITEBYTECODE set); it is bootstrapped from PyPI into .tools/ so that it survives a
# rebuild of .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PY := $(VENV)/bin/python
EXTRAS ?= dev
PYPROJECT_HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
comma := ,
# $(call stamp,EXTRAS): the stamp of a set of extras joined by "+" ("" for none).
stamp = $(VENV)/.installed-$(PYPROJECT_HASH)-$(or $(1),none)
STAMP := $(call stamp,$(subst $(comma),+,$(EXTRAS)))
TEST_STAMP := $(call stamp,test+docs)
# The oldest Airflow we support, for `make test-compat`.
COMPAT_AIRFLOW ?= 3.1.*
COMPAT_VENV := .venv-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed-$(PYPROJECT_HASH)-test+docs

.DEFAULT_GOAL := help
.PHONY: help venv test lint format typecheck unit docs demo bench bench-quick test-bench fuzz test-e2e \
	test-distributed test-compat dist clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

# .venv/.installed-<hash>-<extras joined by +, or none>: the project with those extras is installed.
$(VENV)/.installed-$(PYPROJECT_HASH)-%: pyproject.toml | $(UV)
	find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '.installed-$(PYPROJECT_HASH)-*' -delete 2>/dev/null || true
	test -x $(PY) || $(UV) venv --quiet --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')" $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) \
		-e ".$(if $(filter none,$*),,[$(subst +,$(comma),$*)])"
	touch $@

venv: $(STAMP)  ## create or refresh .venv with EXTRAS (default dev: test, docs, bench and e2e)

lint: $(TEST_STAMP)  ## ruff (lint and format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(TEST_STAMP)  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(TEST_STAMP)  ## mypy on the provider package
	$(VENV)/bin/mypy

unit: $(TEST_STAMP)  ## the test suite only (no lint, no type check)
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck  ## lint, type check and the test suite (which builds the docs with -W)
	$(PY) -m pytest $(PYTEST_ARGS)

docs: $(call stamp,docs)  ## build the Sphinx docs; warnings are errors
	@if [ -f docs/conf.py ]; then \
		$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html; \
	else echo "docs: no docs/conf.py yet"; fi

demo: $(call stamp,)  ## start the emulator, run example DAGs against it, print what happened
	$(PY) scripts/demo.py

bench: $(call stamp,bench)  ## run every benchmark and regenerate docs/benchmarks.rst (and its plots)
	$(PY) bench/run.py

bench-quick: $(call stamp,bench)  ## the benchmarks' quick mode (under a minute; no docs written)
	$(PY) bench/run.py --quick

test-bench: $(call stamp,test+bench)  ## the quick mode run and checked by tests/bench (not in make test)
	$(PY) -m pytest tests/bench -m bench $(PYTEST_ARGS)

fuzz: $(call stamp,test)  ## property tests with 10,000+ examples each, and 2,000+ model-based sequences
	$(PY) -m pytest tests/fuzz tests/model -q --hypothesis-profile=fuzz

test-e2e: $(call stamp,test+e2e)  ## a real Airflow deployment on loopback, and the connection form in headless Chromium
	bash scripts/ensure-chromium.sh
	$(PY) -m pytest tests/deployment -m deployment $(PYTEST_ARGS)

# Sizes of the distributed scenarios (see tests/distributed/conftest.py): issue 18's, about 8 minutes
# on 2 cores; a slower machine can run fewer (make test-distributed ZOHO_DIST_KILL=60 ...).
ZOHO_DIST_DOWNLOADS ?= 300
ZOHO_DIST_KILL ?= 300
ZOHO_DIST_SENSORS ?= 200
ZOHO_DIST_REVOKE ?= 60
export ZOHO_DIST_DOWNLOADS ZOHO_DIST_KILL ZOHO_DIST_SENSORS ZOHO_DIST_REVOKE

test-distributed: $(call stamp,test+distributed)  ## CeleryExecutor on PostgreSQL and Redis, three worker hosts in network namespaces (as root)
	@test "$$(id -u)" = 0 || { echo "test-distributed needs root (network namespaces, PostgreSQL's user)"; exit 1; }
	@command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server; }
	@command -v ip >/dev/null && command -v setpriv >/dev/null && command -v unshare >/dev/null \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 util-linux; }
	$(PY) -m pytest tests/distributed -m distributed $(PYTEST_ARGS)

$(COMPAT_STAMP): pyproject.toml | $(UV)
	rm -f $(COMPAT_VENV)/.installed-*
	test -x $(COMPAT_VENV)/bin/python || $(UV) venv --quiet --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')" $(COMPAT_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(COMPAT_VENV)/bin/python \
		-e ".[test,docs]" "apache-airflow==$(COMPAT_AIRFLOW)"
	touch $@

test-compat: $(COMPAT_STAMP)  ## the test suite on the oldest supported Airflow (3.1.x), in .venv-compat
	$(COMPAT_VENV)/bin/python -c 'import airflow; print("Airflow", airflow.__version__)'
	$(COMPAT_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Not part of `make test` or .ci/run: it needs PyPI (or uv's cache) for twine and a fresh Airflow.
# It does not need .venv: uv builds with hatchling in an isolated environment, twine runs in uv's
# tool environment, and the smoke test installs the wheel into its own venv in .build/dist-smoke/.
dist: | $(UV)  ## build the sdist and wheel into dist/, check them, smoke-test the wheel in a clean venv
	rm -rf dist
	$(UV) build --quiet --out-dir dist
	$(UV) tool run --quiet twine check --strict dist/*
	$(PYTHON) scripts/dist_smoke.py --dist dist --build .build/dist-smoke --uv $(UV) \
		--python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"

clean:  ## remove every generated file (venvs included)
	rm -rf $(VENV) $(COMPAT_VENV) $(TOOLS) .build .cache build dist docs/_build test-artifacts .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
