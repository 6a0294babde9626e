"""The ledger API's OpenAPI document, generated from the declared routes and models.

``python -m services.ledger.openapi`` (``make openapi``) writes ``docs/openapi/ledger.json``;
a test fails when the committed file differs from what the code generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import create_engine

from services.ledger.api import add_api_routes, openapi_document
from services.ledger.config import LedgerSettings

COMMITTED = Path("docs/openapi/ledger.json")


def generated_document() -> dict[str, Any]:
    """The document of the routes ``add_api_routes`` declares (no database is contacted)."""
    settings = LedgerSettings(database_url="postgresql+psycopg://unused@127.0.0.1:9/unused")
    engine = create_engine(settings.database_url)  # never connects: only the route table is built
    app = web.Application()
    add_api_routes(app, engine, settings)
    return openapi_document(app)


def rendered() -> str:
    return json.dumps(generated_document(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if sys.argv[1:] else COMMITTED
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
