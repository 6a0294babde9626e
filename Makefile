# One way to run things. The two that matter: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-unit lint lint-dup openapi proto bench bench-ingest bench-ledger bench-stages bench-close clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with Attain and its dev tools

run: $(STAMP)  ## the whole pipeline on embedded defaults with a sample quarter (Ctrl-C stops)
	$(BIN)/attain run

test: $(STAMP)  ## every test: unit, integration (real broker + PostgreSQL), e2e; in random order (seed in the header)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP) lint-dup
	$(BIN)/ruff check attain services cli tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

lint-dup: $(STAMP)  ## no run of six or more lines repeated in the code (pylint duplicate-code; generated *_pb2* skipped)
	$(BIN)/python -m pylint --rcfile=pyproject.toml $(wildcard attain services cli bench examples)

openapi: $(STAMP)  ## regenerate docs/openapi/ledger.json from the ledger API's declared routes and models
	$(BIN)/python -m services.ledger.openapi

proto: $(STAMP)  ## regenerate the committed gRPC stubs (notifier, ledger, Salesforce Pub/Sub API) after editing a .proto
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. \
		services/notifier/proto/notifier.proto services/ledger/proto/ledger.proto \
		services/ingest/salesforce/proto/pubsub_api.proto

bench: $(STAMP)  ## pipeline, then plan-engine benchmark: each rewrites its block (bench:pipeline, bench:engine) of docs/benchmarks.md
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/engine.py

bench-ledger: $(STAMP)  ## ledger: earnings snapshots reconciled and persisted per second (block bench:ledger)
	$(BIN)/python bench/ledger.py

bench-ingest: $(STAMP)  ## Salesforce CDC decode+publish rate from the fake Pub/Sub API (block bench:ingest-salesforce)
	$(BIN)/python bench/ingest_salesforce.py --events 100000 --runs 3

bench-close: $(STAMP)  ## period close for 1,200 reps: lock, statements, approvals, every payout line on payouts (block bench:period-close)
	$(BIN)/python bench/period_close.py

bench-stages: $(STAMP)  ## calculator CPU per event by step, no Kafka (EVENTS=60000; PROF=path writes a cProfile; block bench:stage-work)
	$(BIN)/python bench/stage_work.py $(or $(EVENTS),60000) $(if $(PROF),--prof $(PROF))

clean:
	rm -rf .attain .pytest_cache .hypothesis
