# retryproof — `make dev` runs the stack locally, `make test` runs every check. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY      := .venv/bin/python
UV       = $(shell command -v uv || echo "$$(python3 -m site --user-base)/bin/uv")
SAM     := .tools/sam/bin/sam
# sam build needs python3.13 (with pip) on PATH: the folder tools/python313.sh found.
SAM_ENV  = PATH="$$(cat .tools/python313-bin):$$PATH" SAM_CLI_TELEMETRY=0
PYTEST  := $(PY) -m pytest -p no:cacheprovider
BUILD_DIR := .aws-sam/build
ENV     ?= dev
# Where `make dev` writes the running stack's addresses; every helper target reads it.
DEV_STATE_FILE ?= .dev-stack.json
export DEV_STATE_FILE

.PHONY: help setup dev test lint typecheck lock-check layer-requirements validate build \
        unit integration e2e invoke api-key api-key-revoke deploy deploy-guided bench chaos chaos-ci chaos-selftest clean \
        webhook webhook-invoke webhook-secret webhook-secret-rotate webhook-secret-retire redrive-dlq

help:  ## this list
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

setup:  ## install uv, Python 3.13, the locked environment and SAM CLI (idempotent)
	@tools/bootstrap.sh

dev: setup  ## run the whole stack locally (PORT=3000, FAKE_LLM_PORT=3001, AWS_EMULATOR_PORT=3005, SEED_FILE=local/seed.json); the helpers below find it in .dev-stack.json
	@$(PY) -m local --state-file "$(DEV_STATE_FILE)"

test: setup lint lock-check validate build unit ts-client integration e2e chaos-ci  ## every check and test (CI runs this)
	@echo "make test: all checks passed"

lint: setup  ## ruff (lint + format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	@for f in functions/*/app.py; do MYPYPATH=layers/common $(PY) -m mypy --strict --no-error-summary "$$f" || exit 1; done
	.venv/bin/bandit -q -c pyproject.toml -r layers/common/retryproof functions local tools

typecheck: lint

lock-check: setup  ## uv.lock matches pyproject.toml; the layer's requirements.txt matches uv.lock
	$(UV) lock --check --python "$$(cat .tools/python313-bin)/python3.13"
	@diff -u layers/common/requirements.txt <(UV=$(UV) tools/layer-requirements.sh) \
	  || { echo "layers/common/requirements.txt is stale: run 'make layer-requirements'"; exit 1; }

layer-requirements:  ## regenerate layers/common/requirements.txt from uv.lock
	tools/layer-requirements.sh > layers/common/requirements.txt

validate: setup  ## cfn-lint and sam validate --lint
	.venv/bin/cfn-lint -t template.yaml --append-rules cfn_lint_serverless.rules
	$(SAM_ENV) $(SAM) validate --lint

build: setup  ## sam build (arm64 layer with pinned dependencies)
	$(SAM_ENV) $(SAM) build --build-dir $(BUILD_DIR)

unit: setup  ## unit tests (no network)
	$(PYTEST) tests/unit -q

integration: setup  ## integration tests (moto server over HTTP, fake LLM over HTTP)
	$(PYTEST) tests/integration -q -n 2 --dist loadfile  # 2 workers, one module each: mostly waiting

e2e: setup  ## end-to-end tests (the local stack over HTTP; the console's in headless Chromium)
	tools/ensure-chromium.sh >/dev/null
	$(PYTEST) tests/e2e -q -n 2 --dist loadgroup  # 2 workers, one module (or group) each; each starts its own stack

invoke: setup  ## run one handler against the running local stack: make invoke FN=generate EVENT=events/generate_post.json
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json"; exit 2; }
	@$(PY) -m local.invoke "$(FN)" "$(EVENT)"

api-key: setup  ## create an API key: make api-key TENANT=acme [SCOPES=read,generate,money] [EXPIRES_IN=30d] [TABLE=<deployed ApiKeysTable>]
	@test -n "$(TENANT)" || { echo "usage: make api-key TENANT=<tenant id> [SCOPES=read,generate,money] [EXPIRES_IN=30d] [TABLE=<table>]"; exit 2; }
	@PYTHONPATH=layers/common:. $(PY) -m tools.api_keys create --tenant "$(TENANT)" $(if $(SCOPES),--scopes "$(SCOPES)") $(if $(EXPIRES_IN),--expires-in "$(EXPIRES_IN)") $(if $(TABLE),--table "$(TABLE)")

api-key-revoke: setup  ## revoke an API key: make api-key-revoke KEY_ID=key_... (or HASH=<sha256> or KEY=<plaintext>) [TABLE=...]
	@test -n "$(KEY_ID)$(HASH)$(KEY)" || { echo "usage: make api-key-revoke KEY_ID=<key id> | HASH=<sha256> | KEY=<api key> [TABLE=<table>]"; exit 2; }
	@PYTHONPATH=layers/common:. $(PY) -m tools.api_keys revoke $(if $(KEY_ID),--key-id "$(KEY_ID)",$(if $(HASH),--hash "$(HASH)",--key "$(KEY)")) $(if $(TABLE),--table "$(TABLE)")

webhook: setup  ## sign a webhook with the seed's secret and POST it: make webhook TENANT=acme DOC=doc_1 [EVENT=evt_1] [CONTENT=...] [OCCURRED_AT=...]
	@test -n "$(TENANT)" -a -n "$(DOC)" || { echo "usage: make webhook TENANT=<tenant> DOC=<document id> [EVENT=<event id>] [CONTENT=<text>] [OCCURRED_AT=<RFC 3339>]"; exit 2; }
	@PYTHONPATH=layers/common:. $(PY) -m tools.sign_webhook send --tenant "$(TENANT)" --doc "$(DOC)" \
	  $(if $(EVENT),--event-id "$(EVENT)") $(if $(CONTENT),--content "$(CONTENT)") $(if $(OCCURRED_AT),--occurred-at "$(OCCURRED_AT)")

webhook-invoke: setup  ## re-sign events/webhook_document_uploaded.json and run the webhook handler on it (make dev running)
	@tmp="$$(mktemp)"; trap 'rm -f "$$tmp"' EXIT; \
	  PYTHONPATH=layers/common:. $(PY) -m tools.sign_webhook resign events/webhook_document_uploaded.json --output "$$tmp"; \
	  $(PY) -m local.invoke webhook "$$tmp"

webhook-secret: setup  ## set a tenant's webhook secret: make webhook-secret TENANT=acme [SECRET=whsec_...] [PREFIX=<deployed WebhookSecretPrefix>]
	@test -n "$(TENANT)" || { echo "usage: make webhook-secret TENANT=<tenant id> [SECRET=whsec_...] [PREFIX=<prefix>]"; exit 2; }
	@PYTHONPATH=layers/common:. $(PY) -m tools.sign_webhook secret --tenant "$(TENANT)" $(if $(SECRET),--secret "$(SECRET)") $(if $(PREFIX),--prefix "$(PREFIX)")

webhook-secret-rotate: setup  ## rotate a tenant's webhook secret, the old one verifying for OVERLAP: make webhook-secret-rotate TENANT=acme [OVERLAP=24h] [PREFIX=...]
	@test -n "$(TENANT)" || { echo "usage: make webhook-secret-rotate TENANT=<tenant id> [OVERLAP=24h] [PREFIX=<prefix>]"; exit 2; }
	@PYTHONPATH=layers/common:. $(PY) -m tools.sign_webhook rotate --tenant "$(TENANT)" $(if $(OVERLAP),--overlap "$(OVERLAP)") $(if $(PREFIX),--prefix "$(PREFIX)")

webhook-secret-retire: setup  ## end a webhook secret rotation's overlap now: make webhook-secret-retire TENANT=acme [PREFIX=...]
	@test -n "$(TENANT)" || { echo "usage: make webhook-secret-retire TENANT=<tenant id> [PREFIX=<prefix>]"; exit 2; }
	@PYTHONPATH=layers/common:. $(PY) -m tools.sign_webhook retire --tenant "$(TENANT)" $(if $(PREFIX),--prefix "$(PREFIX)")

redrive-dlq: setup  ## move the running local stack's dead-lettered jobs back to their queue
	@$(PY) -m local.worker_loop redrive

.PHONY: openapi demo smoke ts-client ts-types

ts-client: setup  ## the TypeScript client: types fresh from openapi.json, tsc, build, node --test unit tests
	@command -v node >/dev/null || { echo "ts-client: Node 20+ and npm are needed (clients/typescript)"; exit 1; }
	cd clients/typescript && npm run --silent check:types && npm run --silent typecheck && npm run --silent build && node --test test/unit.test.mjs

ts-types:  ## regenerate clients/typescript/src/schema.ts from openapi.json (after make openapi)
	cd clients/typescript && npm run --silent generate

openapi: setup  ## regenerate openapi.json from the functions' resolvers (a unit test fails when it is stale)
	PYTHONPATH=layers/common:. $(PY) -m tools.openapi

demo: setup  ## the story against the running `make dev`: lost response, concurrent retries, resumed run, webhook (CLIENT=ts: the TypeScript client's)
	@PYTHONPATH=clients/python/src:. $(PY) -m tools.demo $(if $(CLIENT),--client $(CLIENT))

smoke: setup  ## idempotency checks: make smoke URL=<ApiUrl> API_KEY=<key> [FROM_ACCOUNT=.. TO_ACCOUNT=..]; no URL: the running make dev
	@PYTHONPATH=layers/common:. $(PY) -m tools.smoke --url "$(URL)" --api-key "$(API_KEY)" \
	  --from-account "$(FROM_ACCOUNT)" --to-account "$(TO_ACCOUNT)"

deploy: setup  ## check credentials and region, then sam build + sam deploy (ENV=dev|prod|default)
	@$(PY) -m tools.deploy_check --config-env $(ENV)
	@$(MAKE) --no-print-directory build
	$(SAM_ENV) $(SAM) deploy --config-env $(ENV)

deploy-guided: setup  ## the first deploy: asks for the stack's parameters and saves them
	@$(PY) -m tools.deploy_check --config-env $(ENV)
	@$(MAKE) --no-print-directory build
	$(SAM_ENV) $(SAM) deploy --guided --config-env $(ENV)

chaos: setup  ## a seeded fault storm, then the invariants (CHAOS_SEED=1, CHAOS_OPS=2000)
	PYTHONPATH=layers/common:. $(PY) -m tests.chaos

chaos-ci: setup  ## the smaller chaos seed and the self-test that make test runs
	$(PYTEST) tests/chaos -q

chaos-selftest: setup  ## each guard switched off in turn: a short storm must catch it (in make test)
	PYTHONPATH=layers/common:. $(PY) -m tests.chaos.selftest

bench: setup build  ## the benchmark: DynamoDB calls and capacity units, USD per million vs two baselines, LLM completions, cold starts, sizes, latency (BENCH_RUNS=15)
	PYTHONPATH=layers/common:. $(PY) -m bench $(SECTIONS)

clean:  ## remove build output and caches
	rm -rf .aws-sam .mypy_cache .ruff_cache
