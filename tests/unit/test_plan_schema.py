"""The published JSON Schema accepts every shipped plan file and rejects a misspelt field."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from attain.planfiles import load, plan_files

SCHEMA = json.loads(Path("schemas/plans/v1.schema.json").read_text())


def as_json(value):
    """YAML values as a JSON document would hold them (exact decimals as numbers, dates as text)."""
    return json.loads(json.dumps(value, default=lambda v: str(v) if isinstance(v, date) else float(v)
                                 if isinstance(v, Decimal) else v))


PLAN_FOLDERS = [Path("examples/apac"), Path("examples/demo"), Path("tests/e2e/plans.yaml")]


@pytest.mark.parametrize("path", plan_files(PLAN_FOLDERS), ids=str)
def test_shipped_plan_files_match_the_schema(path):
    jsonschema.validate(as_json(load([path]).data), SCHEMA)


def test_schema_rejects_an_unknown_component_field():
    book = {"plans": [{"id": "a", "currency": "INR", "components": [
        {"id": "c", "measure": "closed_won_amount", "rate": "0.05", "rat": "0.06"}]}]}
    with pytest.raises(jsonschema.ValidationError, match="rat"):
        jsonschema.validate(book, SCHEMA)
