# One way to run things. The two that matter: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-unit lint lint-dup lint-k8s lint-rules lint-docker rules lock openapi proto bench bench-portal bench-failover bench-ingest bench-ledger bench-stages bench-close clean screenshots

# Every dependency pinned with its hashes, and the build backend too (make lock writes the three from
# pyproject.toml: the image's LOCK and the build backend at the versions of DEV_LOCK, which the tests run on;
# the Dockerfile installs BUILD_LOCK and LOCK).
LOCK := requirements/lock.txt
DEV_LOCK := requirements/dev-lock.txt
BUILD_LOCK := requirements/build-lock.txt
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock"

$(STAMP): pyproject.toml $(DEV_LOCK) $(BUILD_LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(BUILD_LOCK) -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with Attain and its dev tools

run: $(STAMP)  ## the whole pipeline on embedded defaults with a sample quarter (Ctrl-C stops)
	$(BIN)/attain run

test: $(STAMP)  ## every test: unit, integration (real broker + PostgreSQL), e2e; in random order (seed in the header)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP) lint-dup lint-rules lint-docker
	$(BIN)/ruff check attain services cli tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

GOBIN_DIR := $(HOME)/go/bin
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
lint-k8s: $(STAMP)  ## deploy/k8s: kustomize build of each overlay, kubeconform -strict (Kubernetes + CRD schemas), house rules
	@test -x $(GOBIN_DIR)/kustomize || GOBIN=$(GOBIN_DIR) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
	@test -x $(GOBIN_DIR)/kubeconform || GOBIN=$(GOBIN_DIR) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
	PATH="$(GOBIN_DIR):$$PATH" $(BIN)/python deploy/k8s/check.py

screenshots: $(STAMP)  ## rewrite docs/img/portal-*.png from the portal's browser tests (needs Debian's chromium)
	$(BIN)/python -m tests.e2e.portal.browser.screenshots

lint-dup: $(STAMP)  ## no run of six or more lines repeated in the code (pylint duplicate-code; generated *_pb2* skipped)
	$(BIN)/python -m pylint --rcfile=pyproject.toml $(wildcard attain services cli bench examples)

lint-rules:  ## alert rules: promtool check and the per-group unit tests in deploy/monitoring/tests (Debian package prometheus)
	promtool check rules deploy/monitoring/rules.yaml
	cd deploy/monitoring/tests && promtool test rules *.yaml

rules: $(STAMP)  ## regenerate the PrometheusRule (deploy/k8s/components/monitoring) from deploy/monitoring/rules.yaml
	$(BIN)/python deploy/monitoring/prometheusrule.py
lint-docker: $(STAMP)  ## the Dockerfile, by hadolint (any finding fails)
	$(BIN)/hadolint Dockerfile

lock: $(STAMP)  ## after editing dependencies in pyproject.toml: re-pin them with hashes (Python 3.11, any platform)
	$(UV_COMPILE) pyproject.toml --extra dev -o $(DEV_LOCK)
	$(UV_COMPILE) pyproject.toml --constraint $(DEV_LOCK) -o $(LOCK)
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(UV_COMPILE) - --constraint $(DEV_LOCK) -o $(BUILD_LOCK)

openapi: $(STAMP)  ## regenerate docs/openapi/ledger.json from the ledger API's declared routes and models
	$(BIN)/python -m services.ledger.openapi

proto: $(STAMP)  ## regenerate the committed gRPC stubs (notifier, ledger, Salesforce Pub/Sub API) after editing a .proto
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. \
		services/notifier/proto/notifier.proto services/ledger/proto/ledger.proto \
		services/ingest/salesforce/proto/pubsub_api.proto

bench: $(STAMP)  ## pipeline, plan engine, portal live feed: each rewrites its block (bench:pipeline, bench:engine, bench:portal-sse) of docs/benchmarks.md
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/portal_sse.py

bench-portal: $(STAMP)  ## portal live feed on Apache Kafka: ingest accepted -> SSE delta at 50 and 500 events/s after a 30 s warm-up, 10,000 streams (block bench:portal-sse)
	$(BIN)/python bench/portal_sse.py

bench-ledger: $(STAMP)  ## ledger: earnings snapshots reconciled and persisted per second (block bench:ledger)
	$(BIN)/python bench/ledger.py

bench-failover: $(STAMP)  ## calculator failover: a second calculator joins, the first is SIGKILLed (block bench:failover)
	$(BIN)/python bench/failover.py

bench-ingest: $(STAMP)  ## Salesforce CDC decode+publish rate from the fake Pub/Sub API (block bench:ingest-salesforce)
	$(BIN)/python bench/ingest_salesforce.py --events 100000 --runs 3

bench-close: $(STAMP)  ## period close for 1,200 reps: lock, statements, approvals, every payout line on payouts (block bench:period-close)
	$(BIN)/python bench/period_close.py

bench-stages: $(STAMP)  ## calculator CPU per event by step, no Kafka (EVENTS=60000; PROF=path writes a cProfile; block bench:stage-work)
	$(BIN)/python bench/stage_work.py $(or $(EVENTS),60000) $(if $(PROF),--prof $(PROF))

clean:
	rm -rf .attain .pytest_cache .hypothesis
