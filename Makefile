# The user interface of scones-vision. Every target sets up what it needs (.venv, the pinned CDK CLI and Node).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# uv installs the pinned requirements in seconds where pip takes a minute or more. It only installs: the versions
# come from requirements*.txt either way. The uv on PATH if there is one, else this one, put into .venv by pip.
UV_VERSION := 0.13.8
UV := $(or $(shell command -v uv 2>/dev/null),$(VENV)/bin/uv)
# Node 24 from package.json first on PATH: the machine's Node may be end-of-life, which jsii warns about.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
# uv installs without compiling bytecode, and an environment may forbid writing it (PYTHONDONTWRITEBYTECODE, set on
# these VMs): then every synth compiles aws_cdk's ~25 MB of Python modules again, 9.8 s instead of 5.4 s here.
# Make's commands let Python write it, so each module is compiled once, on first use, into .venv.
unexport PYTHONDONTWRITEBYTECODE
CDK := $(CURDIR)/node_modules/.bin/cdk
CDK_FLAGS := --no-notices
# Operations on a deployed app: its stacks (<STACK_PREFIX>-Storage, -Model, -Workflow) supply the bucket, the state
# machine, the capture prefix and the threshold; BUCKET= or CAPTURE_PREFIX= override them. LIMIT: test images to run.
STACK_PREFIX ?= SconesVision
LIMIT ?= 20
# make batch / make transform: the key prefix of the images to classify or re-score.
PREFIX ?=
BUCKET ?=
CAPTURE_PREFIX ?=
# Extra `-c key=value` settings for synth/diff/deploy/destroy, e.g. make synth CONTEXT="-c confidence_threshold=0.9"
CONTEXT ?=
# The CDK CLI drops a `-c key` that has no `=value` with a warning and goes on with the default: refused here,
# before any command runs. CONTEXT is split as the cdk command line splits it, quotes included.
ifneq ($(strip $(CONTEXT)),)
CONTEXT_ERROR := $(shell set -- $(CONTEXT); while [ $$# -gt 0 ]; do case "$$1" in \
	(-c|--context) [[ "$${2-}" == *=* ]] || { echo "CONTEXT: $$1 must be followed by key=value, not '$${2-}'"; break; }; \
		shift 2;; \
	(--context=*) [[ "$$1" == --context=*=* ]] || { echo "CONTEXT: $$1 is not --context=key=value"; break; }; shift;; \
	(*) shift;; esac; done)
$(if $(CONTEXT_ERROR),$(error $(CONTEXT_ERROR) (e.g. CONTEXT="-c confidence_threshold=0.9")))
endif
# make data (and deploy, diff): a local tarball, the classes in index order, NO_VERIFY=1 for a non-official file.
SOURCE ?=
CLASSES ?=
NO_VERIFY ?=
NO_VERIFY_FLAG := $(if $(filter-out 0 no false,$(NO_VERIFY)),--no-verify)

.PHONY: help setup data demo local synth test lint format bench-data cost preflight diff deploy destroy executions monitor batch transform models mutate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' "$(firstword $(MAKEFILE_LIST))" | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

# Stamp files make set-up idempotent: a target reruns only when its pinned inputs change.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x "$(PY)" || "$(PYTHON)" -m venv "$(VENV)"
	@test -x "$(UV)" || "$(PY)" -m pip install -qq --disable-pip-version-check uv==$(UV_VERSION)
	@"$(UV)" pip install --quiet --python "$(PY)" -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The two installs share nothing, so they run side by side (most of their time is waiting on the registries).
setup: ## Install the pinned Python deps into .venv, the CDK CLI and Node
	@$(MAKE) --no-print-directory --silent --jobs=2 $(VENV)/.installed node_modules/.installed

# A data/ already built from the same tarball and classes is kept as it is (no download).
data: setup ## Build data/ from CIFAR-100 ([SOURCE=tarball] [CLASSES="a b"] [NO_VERIFY=1])
	@"$(PY)" -m data_prep --out data $(if $(SOURCE),--source "$(SOURCE)") $(if $(CLASSES),--classes $(CLASSES)) \
		$(NO_VERIFY_FLAG)

# demo and local execute the very templates `make synth` wrote to cdk.out/. CI logs get no progress bar.
demo: synth ## Run the synthesized workflow locally on a generated dataset (offline)
	@"$(PY)" -m local_run demo --cdk-out cdk.out $(if $(CI),--no-progress)

local: synth ## Run the workflow locally on CIFAR-100 (SOURCE=cifar-100-python.tar.gz [NO_VERIFY=1])
	@test -n "$(SOURCE)" || { echo "usage: make local SOURCE=path/to/cifar-100-python.tar.gz"; exit 2; }
	@"$(PY)" -m local_run local --source "$(SOURCE)" --cdk-out cdk.out $(NO_VERIFY_FLAG)

synth: setup ## Write the CloudFormation templates into cdk.out/ (offline)
	@"$(CDK)" synth $(CDK_FLAGS) --quiet $(CONTEXT) >/dev/null
	@echo "Templates written to cdk.out/ for the stacks:"
	@echo "  $$(cd cdk.out && ls *.template.json | sed 's/\.template\.json$$//' | xargs)"

# pytest exits 5 when it collected no test: a failure here too, said as such.
test: lint ## Lint, then run the whole test suite
	@"$(VENV)/bin/pytest" || { status=$$?; \
		if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$status; }

lint: setup ## Lint and format-check only
	@"$(VENV)/bin/ruff" check .
	@"$(VENV)/bin/ruff" format --check --quiet .

# Fixes first (import sorting is a lint fix), then the formatter; exits non-zero if a finding has no fix.
format: setup ## Apply ruff's safe fixes, then format the code
	@"$(VENV)/bin/ruff" check --fix .; status=$$?; "$(VENV)/bin/ruff" format . && exit $$status

bench-data: setup ## Time data_prep on a full-size synthetic tarball
	@"$(PY)" -m benchmarks.data_prep

# Offline: reads cdk.out/ when `make synth` wrote it, else uses the documented defaults. IMAGES: one batch's size,
# PER_DAY: classifications a day sharing a real-time endpoint.
cost: setup ## Print each path's cost per hour deployed and per 1,000 classifications ([IMAGES=1000] [PER_DAY=10000])
	@$(PY) -m ops cost --cdk-out cdk.out $(if $(IMAGES),--images $(IMAGES)) $(if $(PER_DAY),--per-day $(PER_DAY)) $(CONTEXT)

# Read-only: exits 1 when a check fails (each with its fix), 2 when it cannot run (no credentials, no cdk.out).
preflight: synth ## Check credentials, region, bootstrap, quotas and dataset for a deploy
	@"$(PY)" -m ops preflight --cdk-out cdk.out $(CONTEXT)

# The app refuses to deploy the generated demo dataset when SCONES_VISION_DEPLOY=1. preflight runs after data (a
# prerequisite would let `make -j` run them side by side), so it checks the dataset the deploy uploads.
deploy: data ## make data, make preflight, then deploy every stack (data's options apply)
	@$(MAKE) --no-print-directory preflight
	@SCONES_VISION_DEPLOY=1 "$(CDK)" deploy --all $(CDK_FLAGS) --require-approval broadening $(CONTEXT)

# What deploy would change, IAM included: `cdk diff` (every stack when none is named) reads the deployed stacks.
diff: data ## make data, then show what deploy would change (needs AWS credentials)
	@SCONES_VISION_DEPLOY=1 "$(CDK)" diff $(CDK_FLAGS) $(CONTEXT)

destroy: setup ## Remove every stack (and the buckets unless removal_policy=retain)
	@"$(CDK)" destroy --all $(CDK_FLAGS) --force $(CONTEXT)

executions: setup ## Run the workflow on test images and tabulate the outcomes ([LIMIT=20] [STACK_PREFIX=...])
	@$(PY) -m ops run --stack-prefix $(STACK_PREFIX) $(if $(BUCKET),--bucket $(BUCKET)) \
		--lst dataset/validation_lst/validation.lst --manifest data/manifest.json --limit $(LIMIT)

monitor: setup ## Summarize the endpoint's captured data into plots/monitoring.png and .json ([STACK_PREFIX=...])
	@$(PY) -m ops monitor --stack-prefix $(STACK_PREFIX) $(if $(BUCKET),--bucket $(BUCKET)) \
		$(if $(CAPTURE_PREFIX),--prefix $(CAPTURE_PREFIX)) --manifest data/manifest.json --out plots/monitoring.png

# Both start one execution on a deployed app over every image under PREFIX (inside workflow_input_prefix).
batch: setup ## Classify every image under PREFIX in one batch execution, print its summary (PREFIX=...)
	@test -n "$(PREFIX)" || { echo "usage: make batch PREFIX=dataset/validation/ [STACK_PREFIX=...]"; exit 2; }
	@$(PY) -m ops batch --prefix "$(PREFIX)" --stack-prefix $(STACK_PREFIX) $(if $(BUCKET),--bucket $(BUCKET))

transform: setup ## Re-score every image under PREFIX with Batch Transform, no endpoint needed (PREFIX=...)
	@test -n "$(PREFIX)" || { echo "usage: make transform PREFIX=dataset/validation/ [STACK_PREFIX=...]"; exit 2; }
	@$(PY) -m ops transform --prefix "$(PREFIX)" --stack-prefix $(STACK_PREFIX) $(if $(BUCKET),--bucket $(BUCKET)) \
		$(if $(wildcard data/manifest.json),--manifest data/manifest.json)

models: setup ## List the registered model versions and mark the one the endpoint serves now ([STACK_PREFIX=...])
	@$(PY) -m ops models --stack-prefix $(STACK_PREFIX)

# Mutation testing, slow and kept out of `make test` and CI: one cosmic-ray session per handler (mutation/README.md).
HANDLERS ?= filter_inferences summarize_batch serialize_image serialize_image_format classify_image training_job model_registry

# cosmic-ray on top of the dev requirements: uv keeps their pins or refuses.
$(VENV)/.mutate-installed: $(VENV)/.installed requirements-mutate.txt
	@"$(UV)" pip install --quiet --python "$(PY)" -r requirements-mutate.txt
	@touch $@

# Each handler: a fresh session, a baseline run of its tests unmutated, then every mutant; a score per handler.
mutate: $(VENV)/.mutate-installed ## Mutation-test each handler with cosmic-ray, print its score (slow) [HANDLERS="a b"]
	@for handler in $(HANDLERS); do \
		config=mutation/$$handler.toml; session=mutation/$$handler.sqlite; \
		test -f "$$config" || { echo "make mutate: no $$config (HANDLERS: names of mutation/*.toml)" >&2; exit 2; }; \
		echo "mutate: $$handler"; \
		"$(VENV)/bin/cosmic-ray" init "$$config" "$$session" --force || exit $$?; \
		"$(VENV)/bin/cosmic-ray" baseline "$$config" || { echo "make mutate: $$handler's tests fail unmutated" >&2; exit 1; }; \
		nice -n 10 "$(VENV)/bin/cosmic-ray" exec "$$config" "$$session" || exit $$?; \
	done
	@"$(PY)" mutation/report.py $(HANDLERS)

clean: ## Remove generated files (keeps .venv, node_modules and data/)
	rm -rf cdk.out .pytest_cache .ruff_cache mutation/*.sqlite
