# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need.
# The inner loop: `make check` (lint, types, import contracts, the pure-core tests; < 1 min).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_VERSION := 3.13
# The interpreter uv is given: pyenv's 3.13 where pyenv has one (its shims serve only the
# global version, so uv would not find 3.13 on PATH and would try to download one).
PYENV_PREFIX := $(shell pyenv prefix $(PYTHON_VERSION) 2>/dev/null)
PYTHON_FOR_UV := $(if $(PYENV_PREFIX),$(PYENV_PREFIX)/bin/python$(PYTHON_VERSION),$(PYTHON_VERSION))
# uv from PATH if present, else the one `make install` puts in with pip.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PY := .venv/bin/python
SRC := lambdas tasks flows deployments benchmarks tests
# The tests of the pure cores (the modules the import contracts keep free of AWS and
# Prefect): no moto, no Prefect harness, no browser. A new pure-core test file goes here.
PURE_TESTS := tests/tasks/core \
	tests/lambdas/shared/test_contract.py \
	tests/lambdas/shared/test_correlation.py \
	tests/lambdas/shared/test_weeks.py \
	tests/tasks/test_settings.py tests/lambdas/processor/test_config.py
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install lint imports typecheck cfn-lint security pure check unit browser-deps test demo report lambda-zip bench eval train soak serve automations clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: .venv/.installed  ## create .venv from uv.lock (installs uv with pip if missing)

.venv/.installed: pyproject.toml uv.lock
# Bytecode compiled once here: PYTHONDONTWRITEBYTECODE (below) would otherwise make every
# process compile what it imports, and the import benchmark would time a compiler, not Lambda.
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON_FOR_UV)
	@touch $@

lint: install  ## ruff lint and format check
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)

imports: install  ## the import contracts in pyproject.toml (rooms, pure cores)
	.venv/bin/lint-imports

typecheck: install  ## mypy --strict (pyproject's [tool.mypy]); .mypy_cache makes reruns quick
	$(PY) -m mypy $(SRC)

cfn-lint: install  ## lint the CloudFormation template
	.venv/bin/cfn-lint deployments/template.yaml

security: install  ## bandit over the shipped code
	.venv/bin/bandit -q -c pyproject.toml -r lambdas tasks flows deployments

lambda-zip: install  ## build dist/processor.zip and check it imports with only runtime + Powertools layer
	$(PY) -m deployments.lambda_zip

# One process: with ~500 quick tests, a second worker costs more in start-up than it saves.
pure: install  ## the pure-core tests only (PURE_TESTS: no AWS, no Prefect, no browser)
	$(PY) -m pytest -q $(PURE_TESTS)

check: lint imports typecheck pure  ## the fast lane: lint, import contracts, mypy, pure tests

# Two workers (the machine has two cores), a test file per worker at a time, so module
# fixtures (a stack, a Prefect harness, the browser's serve) are shared as written.
# Installs nothing: without Chromium the browser tests skip (fail when CI is set).
unit: install  ## pytest only (tests/browser included), two workers
	$(PY) -m pytest -n 2 --dist loadfile

# tests/browser drive Debian's Chromium (Playwright, no browser download). The one target
# that changes the machine: .ci/run calls it before `make test`; no test target does.
browser-deps:  ## Debian's chromium and chromium-driver for tests/browser (apt-get as root)
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
			|| echo "browser-deps: apt-get failed: tests/browser will fail in CI, skip elsewhere" >&2; \
	else echo "browser-deps: no chromium: sudo apt-get install chromium chromium-driver (tests/browser skip)" >&2; fi

test: lint imports typecheck cfn-lint security lambda-zip eval unit  ## the whole suite (what CI runs)

demo: install  ## the whole story on an embedded AWS, no account needed
	$(PY) -m deployments.demo

report: install  ## one week's report on its own embedded stack (out/report/): make report WEEK=2025-W45
	@test -n "$(WEEK)" || { echo "usage: make report WEEK=YYYY-Www" >&2; exit 2; }
	$(PY) -m deployments.demo --report-only --week $(WEEK)

bench: install  ## performance figures as JSON (not part of make test); QUICK=1 for small sizes
	$(PY) -m benchmarks.run $(if $(QUICK),--quick,)

# Part of `make test`: exits non-zero when a held-out set misses a goal (docs/insights-model.md).
eval: install  ## quality of intents and themes on the held-out questions (goals gate make test), JSON
	$(PY) -m benchmarks.eval_insights

train: install  ## refit tasks/core/topic_model.npz from samples/corpus (make eval after)
	$(PY) -m benchmarks.train_insights

soak: install  ## ~100,000 Worker events with a DynamoDB outage mid-run; prints the ledger
	POWERTOOLS_METRICS_DISABLED=true POWERTOOLS_LOG_LEVEL=ERROR $(PY) -m benchmarks.soak $(if $(REQUESTS),--requests $(REQUESTS),)

serve: install  ## AWS in miniature on :4201 + Prefect UI on :4200 + worker (out/serve/), Ctrl-C stops
	$(PY) -m deployments.serve

automations: install  ## create/update the Prefect automations: make automations BLOCK=slack-webhook/cv-analytics-alerts
	@test -n "$(BLOCK)" || { echo "usage: make automations BLOCK=<block-type>/<block-name>" >&2; exit 2; }
	$(PY) -m deployments.automations --block $(BLOCK)

clean:  ## remove build and run outputs
	rm -rf dist out .pytest_cache .mypy_cache .ruff_cache
