"""One pipeline for every portal module (tests/e2e/portal/...): the portal's plan book, and an issuer that also
knows the reps the modules sign in as. Starting a stack takes about a minute, so the modules share it; each owns
its reps (tests/e2e/portal_plans.yaml says whose they are), so none sees another's numbers move.

The package's items run together (tests/e2e/conftest.py groups them after pytest-randomly's shuffle), so the
stack starts once and stops when the last of them is done."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from attain.embedded.issuer import SAMPLE_CLIENTS, SAMPLE_USERS
from attain.embedded.stack import Stack
from cli.main import load_demo_org
from tests.conftest import fresh_database, start_broker
from tests.e2e.conftest import run_stack

PLANS = Path(__file__).parent.parent / "portal_plans.yaml"
BROWSER_REPS = ("p-browser-1", "p-browser-2", "p-browser-3", "p-browser-4", "p-browser-5")  # portal_plans.yaml
BROWSER_MANAGERS = ("p-browser-mgr",)


@pytest.fixture(scope="package")
def pipeline_kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The package's broker (the stack reads crm.changes from the beginning: see tests/conftest.py)."""
    yield from start_broker(tmp_path_factory)


@pytest.fixture(scope="package")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """The package's database: the stack's ledger and read model, which the modules also read."""
    yield from fresh_database(postgres_server_url)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, pipeline_kafka_bootstrap: str,
          database_url: str) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack-portal")
    users = {**SAMPLE_USERS, **{rep: {"roles": ["rep"]} for rep in BROWSER_REPS},
             **{manager: {"roles": ["manager"]} for manager in BROWSER_MANAGERS}}
    subprocess.run([sys.executable, "-m", "services.issuer", "init", str(workdir / "issuer"),
                    "--users", json.dumps(users), "--clients", json.dumps(SAMPLE_CLIENTS)],
                   check=True, capture_output=True, timeout=60)
    for pipeline in run_stack(workdir, pipeline_kafka_bootstrap, database_url, plans_file=PLANS):
        load_demo_org(PLANS, database_url)  # the ledger's policy knows who manages whom
        yield pipeline
