# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit integration e2e lint install clean synth bench openapi sam

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# SAM CLI lives in a virtualenv of its own (.venv/sam): its pins (boto3, click, pydantic) would change the
# versions the project's own tests run with.
SAM_STAMP := $(VENV)/sam/.installed
$(SAM_STAMP): $(STAMP)
	$(PYTHON) -m venv $(VENV)/sam
	$(VENV)/sam/bin/pip install --quiet --upgrade pip
	$(VENV)/sam/bin/pip install --quiet "aws-sam-cli>=1.170,<2"
	touch $(SAM_STAMP)

# Webhooks of the local stack may target http://127.0.0.1 (deployed stacks refuse it).
WEBHOOKS_ALLOW_LOCAL_HTTP ?= true

run: $(STAMP)
	WEBHOOKS_ALLOW_LOCAL_HTTP=$(WEBHOOKS_ALLOW_LOCAL_HTTP) $(BIN)/python -m shared.local.stack

# The end-to-end suite also runs against `sam local start-api` (make sam), or says why it is skipped (no
# Docker engine).
test: $(STAMP) $(SAM_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

e2e: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m pytest tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerate the OpenAPI document (functions/docs/openapi.json) from the resolvers and models; a unit
# test fails while the committed one is out of date.
openapi: $(STAMP)
	$(BIN)/python -m shared.openapi

# Benchmarks (python -m tests.bench): every bench in turn, each in a fresh process, then ONE table with
# every goal of the performance work and the figure measured for it in the same run, met or NOT MET,
# and the figures reported without a goal; fails if a goal is not met. The goals: each function's cold
# start against the floor (init <= 1.2x, first response <= 1.3x); DynamoDB round trips per operation
# and the items an exact lookup reads (tests/integration/test_round_trips.py, run with pytest); the
# search handler within 1.2x of the raw Typesense search plus one BatchGetItem at 100,000 documents;
# the deployed stream mappings' batching (window 0 s, batch size 100; tests/infrastructure) next to the
# local stack's write->findable lag; 100 creates as one batch at least 5x faster than 100 POSTs; a soak
# of 50,000 mixed requests (SOAK_REQUESTS) whose latency and memory do not grow. Figures only: GET and
# POST throughput at 1, 4 and 16 clients, search latency per kind of query at 100,000 records.
# About 50 minutes; BENCH_ARGS=--quick for smaller sizes (about 10 minutes), BENCH_ARGS="--only soak"
# for some benches.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

# Synthesize the CDK app into cdk.out/ (no AWS account needed): builds the Lambda asset on this
# machine with pip (arm64 wheels) and runs cdk-nag.
synth: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	npx --yes aws-cdk@2 synth --quiet

# The synthesized template's functions in Lambda runtime containers (x86_64), served by `sam local start-api` on
# http://127.0.0.1:$${SAM_PORT:-3000} against the local stack's DynamoDB and Typesense. Needs a Docker engine
# and mmdebstrap (for the base image, built once and kept by the engine).
sam: $(SAM_STAMP)
	WEBHOOKS_ALLOW_LOCAL_HTTP=$(WEBHOOKS_ALLOW_LOCAL_HTTP) $(BIN)/python -m shared.local.sam

clean:
	rm -rf $(VENV) .local .pytest_cache
