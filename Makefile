# cxpulse developer entry points.
#
#   make demo    # build .venv if needed, then run the self-contained demo
#   make test    # build .venv if needed, then run the whole test suite
#
# Only python3 and access to PyPI are needed: the demo embeds its own Kafka-compatible
# broker and Redis server. Override the interpreter with `make PYTHON=python3.12 ...`.

PYTHON      ?= python3
VENV        ?= .venv
DEMO_ARGS   ?=
PYTEST_ARGS ?=
SCHEMA_DIR  ?= schemas

VENV_PY     := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
PIP         := $(VENV_PY) -m pip --disable-pip-version-check
PIP_FLAGS   ?= --progress-bar off

.DEFAULT_GOAL := help

.PHONY: help venv demo test test-unit schema ops clean bench bench-smoke

help:
	@echo "cxpulse make targets:"
	@echo "  make demo       run the self-contained demo (DEMO_ARGS='--duration 60 --rate 50')"
	@echo "  make test       run every test tier (PYTEST_ARGS='-x -k name')"
	@echo "  make test-unit  run only the unit and functional tiers"
	@echo "  make bench      run the full benchmark, ~35 min (BENCH_ARGS='--only cxpulse,quix --events 50000')"
	@echo "  make bench-smoke  the quick harness run that 'make test' also does"
	@echo "  make schema     write the events' JSON Schema to $(SCHEMA_DIR)/"
	@echo "  make ops        regenerate ops/prometheus/rules.yml and ops/grafana/dashboards/ from the default settings"
	@echo "  make venv       create $(VENV) and install cxpulse with its test extras"
	@echo "  make clean      remove $(VENV) and caches"

venv: $(STAMP)

# The virtualenv itself: created once, only if it is missing.
$(VENV_PY):
	@echo "==> creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	$(PYTHON) -m venv $(VENV)

# (Re)install whenever pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(VENV_PY)
	@echo "==> upgrading pip in $(VENV)"
	$(PIP) install $(PIP_FLAGS) --upgrade pip
	@echo "==> installing cxpulse (editable) with test extras"
	$(PIP) install $(PIP_FLAGS) -e '.[test]'
	$(PIP) check
	@touch $@
	@echo "==> $(VENV) is ready"

demo: venv
	$(VENV)/bin/cxpulse demo $(DEMO_ARGS)

test: venv
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(VENV_PY) -m pytest tests/unit tests/functional $(PYTEST_ARGS)

# Results go to bench/results/<UTC date-time>.json and .md; see docs/performance.md.
bench: venv
	$(VENV_PY) -m bench run $(BENCH_ARGS)

bench-smoke: venv
	$(VENV_PY) -m bench run --smoke $(BENCH_ARGS)

schema: venv
	$(VENV)/bin/cxpulse schema --out $(SCHEMA_DIR)

# The committed rules and dashboards are generated from Settings() defaults (CXPULSE_*
# variables ignored); tests/unit/test_rules.py and test_dashboards.py check they match.
ops: venv
	$(VENV_PY) -m cxpulse.rules --defaults --out ops/prometheus/rules.yml
	$(VENV_PY) -m cxpulse.dashboards --defaults --out ops/grafana/dashboards

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
