# pytest-testviz developer entry points.
#
# On a fresh machine with python3, pip and make:
#   make serve            # bootstrap .venv, run the server on http://127.0.0.1:5000
#   make test             # bootstrap .venv, run the test suite
#
# Overridable variables (on the command line or in the environment):
#   make serve HOST=0.0.0.0 PORT=8000
#   make test PYTEST_ARGS="-n 2 -k ingest"
#   make bench-parse BENCH_ARGS="--files 100"
#   make venv PYTHON=python3.12
#
# One virtualenv (.venv) holds every extra. It is (re)installed only when pyproject.toml is newer
# than the stamp file .venv/.installed, so repeated `make test` / `make serve` start at once.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        ?= .venv
EXTRAS      ?= server,postgres,test,lint,bench
HOST        ?= 127.0.0.1
PORT        ?= 5000
PYTEST_ARGS ?=
BENCH_ARGS  ?=

VENV_BIN := $(VENV)/bin
VENV_PY  := $(VENV_BIN)/python
STAMP    := $(VENV)/.installed

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv serve test lint fmt clean distclean

help:
	@echo "make serve        run the server (HOST=$(HOST) PORT=$(PORT))"
	@echo "make test         run the test suite (PYTEST_ARGS='$(PYTEST_ARGS)')"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make fmt          ruff format + ruff check --fix"
	@echo "make bench-NAME   run bench/NAME.py (or bench/NAME_bench.py) with BENCH_ARGS"
	@echo "make venv         only create/update $(VENV)"
	@echo "make clean        remove caches; make distclean also removes $(VENV)"

# The single install step. A venv whose interpreter no longer runs (e.g. the base Python was
# removed or upgraded) is recreated instead of patched.
$(STAMP): pyproject.toml
	@if ! $(VENV_PY) -c 'import sys' >/dev/null 2>&1; then \
		echo "Creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv --clear $(VENV); \
	fi
	$(VENV_PY) -m pip install --upgrade pip setuptools wheel
	$(VENV_PY) -m pip install -e '.[$(EXTRAS)]'
	@touch $@

venv: $(STAMP)

# One process: the pages and API, and a job worker in a thread of it (queued uploads,
# analysis, TEST_RESULTS_DIR, retention). Production runs `flask --app server worker` apart.
serve: $(STAMP)
	TESTVIZ_EMBEDDED_WORKER=$${TESTVIZ_EMBEDDED_WORKER:-true} \
		$(VENV_BIN)/flask --app server run --host $(HOST) --port $(PORT)

# pytest's exit status 5 ("no tests were collected") is a failure here: a test run that ran
# nothing must never look green.
test: $(STAMP)
	@$(VENV_PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then \
		echo "make test: pytest collected no tests (exit status 5); failing." >&2; \
		exit 1; \
	fi; \
	exit $$rc

# Runs all three checks and fails if any failed, so one run shows every problem.
lint: $(STAMP)
	@rc=0; \
	echo "+ ruff check ."; $(VENV_BIN)/ruff check . || rc=1; \
	echo "+ ruff format --check ."; $(VENV_BIN)/ruff format --check . || rc=1; \
	echo "+ mypy"; $(VENV_BIN)/mypy || rc=1; \
	exit $$rc

fmt: $(STAMP)
	$(VENV_BIN)/ruff format .
	$(VENV_BIN)/ruff check --fix .

# Benchmarks: `make bench-parse` runs bench/parse.py, or bench/parse_bench.py if that is the one
# that exists. Add a bench/<name>.py and `make bench-<name>` works with no Makefile change.
bench-%: $(STAMP)
	@if [ -f bench/$*.py ]; then script=bench/$*.py; \
	elif [ -f bench/$*_bench.py ]; then script=bench/$*_bench.py; \
	else echo "make: no bench/$*.py or bench/$*_bench.py" >&2; exit 2; fi; \
	echo "+ $(VENV_PY) $$script $(BENCH_ARGS)"; \
	$(VENV_PY) $$script $(BENCH_ARGS)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist bench/out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name '*.egg-info' -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .tox
