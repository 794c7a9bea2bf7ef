# The user interface of scones-vision. Every target sets up what it needs (.venv, the pinned CDK CLI and Node).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# Node 24 from package.json first on PATH: the machine's Node may be end-of-life, which jsii warns about.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := $(CURDIR)/node_modules/.bin/cdk
CDK_FLAGS := --no-notices
# Extra `-c key=value` settings for synth/deploy/destroy, e.g. make synth CONTEXT="-c confidence_threshold=0.9"
CONTEXT ?=

.PHONY: help setup synth test lint deploy destroy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Stamp files make set-up idempotent: a target reruns only when its pinned inputs change.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed node_modules/.installed ## Create .venv and install the pinned Python deps, CDK CLI and Node

synth: setup ## Synthesize the CloudFormation templates into cdk.out/ (offline)
	@$(CDK) synth $(CDK_FLAGS) --quiet $(CONTEXT)
	@echo "Templates written to cdk.out/: $$(cd cdk.out && ls *.template.json | tr '\n' ' ')"

test: setup ## Run linters and the whole test suite
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check --quiet .
	@$(VENV)/bin/pytest

lint: setup ## Lint and format-check only
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

deploy: setup ## Deploy every stack to the account and region of your AWS credentials
	@$(CDK) deploy --all $(CDK_FLAGS) --require-approval broadening $(CONTEXT)

destroy: setup ## Remove every stack (and, unless removal_policy=retain, the buckets)
	@$(CDK) destroy --all $(CDK_FLAGS) --force $(CONTEXT)

clean: ## Remove generated files (keeps .venv, node_modules and data/)
	rm -rf cdk.out .pytest_cache .ruff_cache
