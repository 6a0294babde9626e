"""The ledger's period close reads the plan book the calculator uses: the current published version when the
reference topics have one, else the plans file."""

from __future__ import annotations

import uuid
from decimal import Decimal

from attain.contracts.reference import ReferenceVersion
from attain.platform.reference import ReferenceTopics, publish
from attain.platform.settings import KafkaSettings
from services.ledger.period_close import current_plan_book, due_closing_draws

BOOK = """plans:
  - id: ae
    currency: INR
    period: month
    draw: {amount: DRAW}
    components:
      - {id: commission, measure: closed_won_amount, rate: 0.05}
participants:
  - {id: r1, plan: ae, quota: 1000}
"""


def test_period_close_pays_draws_from_the_published_version_else_from_the_file(kafka_bootstrap, tmp_path):
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    run = uuid.uuid4().hex[:8]
    names = ReferenceTopics(f"test.reference.versions.{run}", f"test.reference.publications.{run}")
    plans = tmp_path / "plans.yaml"
    plans.write_text(BOOK.replace("DRAW", "300"), encoding="utf-8")

    def draws() -> list[Decimal]:
        book = current_plan_book(plans, kafka, names)
        assert book is not None
        return [draw.total_earned for draw in due_closing_draws(book, "2026-03")]

    assert draws() == [Decimal("300.00")]  # nothing published: the file
    publish(kafka, ReferenceVersion.of_files({"plans.yaml": BOOK.replace("DRAW", "450")}, "admin"), "admin",
            names=names)
    assert draws() == [Decimal("450.00")]  # the published version, not the file
