# Market Data Pipeline: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAMBDA := lib/lambda
NODE18_DIR := tools/node18
NODE18 := $(NODE18_DIR)/node_modules/.bin/node
NODE22_DIR := tools/node22
NODE22 := $(NODE22_DIR)/node_modules/.bin/node
IAM_EVAL := tools/iam/node_modules/.installed
export NODE_NO_WARNINGS := 1

.PHONY: help venv node build schema lint test test-lambda test-python integration demo bench wheel sdist examples-up examples-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(VENV)/.installed: requirements-dev.txt sdk/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -e sdk/python
	touch $@

venv: $(VENV)/.installed ## create .venv with the SDK (editable) and the test tools

$(LAMBDA)/node_modules/.installed: $(LAMBDA)/package-lock.json
	cd $(LAMBDA) && npm ci --no-audit --no-fund
	touch $@

$(NODE18): $(NODE18_DIR)/package-lock.json
	cd $(NODE18_DIR) && npm ci --no-audit --no-fund
	touch $@

$(NODE22): $(NODE22_DIR)/package-lock.json
	cd $(NODE22_DIR) && npm ci --no-audit --no-fund
	touch $@

$(IAM_EVAL): tools/iam/package-lock.json
	cd tools/iam && npm ci --no-audit --no-fund
	touch $@

node: $(LAMBDA)/node_modules/.installed $(NODE18) $(NODE22) $(IAM_EVAL) ## npm ci for the handlers, the Node 18 and Node 22 binaries and the IAM evaluator of the IAM proof

build: node ## type-check and bundle the four handlers into the Python package (the bundles are committed: commit them after a change)
	cd $(LAMBDA) && npx tsc --noEmit && node build.mjs

schema: venv ## regenerate schema.json from the component's annotations
	$(PY) -m market_data_pipeline.schema > schema.json.tmp && mv schema.json.tmp schema.json

EXAMPLES ?= prod dev
OUTPUTS_FROM ?= prod

examples-up: build ## pulumi up examples/prod and examples/dev (real Pulumi CLI + AWS credentials); writes cfn-outputs/flat-outputs.json from $(OUTPUTS_FROM)
	@command -v pulumi >/dev/null || { echo "examples-up needs the Pulumi CLI (https://www.pulumi.com/docs/install/) and AWS credentials"; exit 1; }
	set -e; for ex in $(EXAMPLES); do \
	  (cd examples/$$ex && pulumi install && pulumi stack select --create $$ex && pulumi up --yes); \
	done
	mkdir -p cfn-outputs
	cd examples/$(OUTPUTS_FROM) && pulumi stack select $(OUTPUTS_FROM) && pulumi stack output --json > $(CURDIR)/cfn-outputs/flat-outputs.json
	@echo "wrote cfn-outputs/flat-outputs.json from examples/$(OUTPUTS_FROM)"

examples-down: ## pulumi destroy the example stacks (real Pulumi CLI + AWS credentials)
	@command -v pulumi >/dev/null || { echo "examples-down needs the Pulumi CLI and AWS credentials"; exit 1; }
	set -e; for ex in $(EXAMPLES); do \
	  (cd examples/$$ex && pulumi stack select $$ex && pulumi destroy --yes); \
	done

lint: venv ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test-lambda: build ## handler unit and property tests on Node 22 (the default Lambda runtime), Node 18 and the system Node
	cd $(LAMBDA) && npm test
	set -e; for dir in $(NODE22_DIR) $(NODE18_DIR); do \
	  (cd $(LAMBDA) && export PATH="$(CURDIR)/$$dir/node_modules/.bin:$$PATH" && node --version && npm test); \
	done

test-python: venv build ## pytest: component under mocks, properties, package, local-stack integration, IAM proof
	$(PY) -m pytest -q

test: lint test-lambda test-python ## everything CI runs

demo: venv build ## run the whole pipeline locally on moto, end to end (ARGS=--serve keeps it up; Ctrl-C stops)
	$(PY) -m tools.local.demo $(ARGS)

integration: venv ## flat-outputs suite against a deployment: FLAT_OUTPUTS (default cfn-outputs/flat-outputs.json)
	FLAT_OUTPUTS="$${FLAT_OUTPUTS:-cfn-outputs/flat-outputs.json}" $(PY) -m pytest -q tests/integration $(ARGS)

bench: venv build ## benchmarks (issues 6, 10): core throughput vs baseline, AWS requests vs naive, cold start, e2e, cost, measured streams -> bench/results.json (ARGS=--quick|--parts stream)
	$(PY) -m bench.run $(ARGS)

KINDS ?= file api
.PHONY: bench-design-rate
bench-design-rate: venv build ## issue 10's goals MEASURED at the design rate (5M ticks/day): per kind, one 1,000-symbol stream for 300 s from a 5-minute boundary, about 10-20 min each (waits for the boundary) -> bench/results-design-rate-<kind>.json (KINDS=file api)
	@for k in $(KINDS); do \
	  $(PY) -m bench.run --design-rate --stream-kinds $$k --out bench/results-design-rate-$$k.json $(ARGS) || exit 1; \
	done

.PHONY: mutation
mutation: venv build ## plant a fixed set of realistic bugs one at a time and report which the fast suites catch (tools/mutation.py; ARGS=--only ID ...|--list)
	$(PY) -m tools.mutation $(ARGS)

.PHONY: faults
faults: venv build ## fault, duplicate, poison, abuse and load scenarios on the local stack (tests/faults; also in make test)
	$(PY) -m pytest -q tests/faults $(ARGS)

wheel: build venv ## build the SDK wheel (bundles included) into dist/
	$(PY) -m build --wheel --outdir dist sdk/python

sdist: build venv ## build the SDK source distribution (bundles included: installing it needs no Node.js) into dist/
	$(PY) -m build --sdist --outdir dist sdk/python

clean: ## remove generated files
	rm -rf $(VENV) dist $(LAMBDA)/node_modules $(NODE18_DIR)/node_modules $(NODE22_DIR)/node_modules sdk/python/build sdk/python/*.egg-info cfn-outputs .pytest_cache .mypy_cache .ruff_cache
