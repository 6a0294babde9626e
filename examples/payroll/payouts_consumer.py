"""A payroll integration reading one period's payouts from Kafka, in Python (fastavro + confluent-kafka).

It needs only the published contract, not Attain: the ``.avsc`` files of ``payouts`` and
``payouts.control`` (``schemas/`` in Attain's repository).

    python payouts_consumer.py BOOTSTRAP SCHEMAS_DIR SCOPE PERIOD [TIMEOUT_SECONDS]

It reads both topics from the beginning, keeps the first copy of each payout line
(dedupes on ``payout_id``), waits for the period's control record and for as many
lines as it announces, then checks the line count and the totals per currency
against it. It prints one row per employee, currency and earning code:

    PAY <hr_id or -> <rep_id> <currency> <earning_code> <amount>

then ``COMPLETE <scope>/<period> lines=N duplicates=D <CUR>=<total>...`` and exits 0;
``MISMATCH ...`` (exit 1) when the lines do not add up to the control record;
``INCOMPLETE ...`` (exit 2) when the period is not complete within the timeout.
Run by tests/integration/test_payroll_contract.py against a real broker.
"""

from __future__ import annotations

import io
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form

MARKER = b"\xc3\x01"  # Avro single-object encoding: marker, 8-byte CRC-64-AVRO fingerprint (little-endian), body


class Decoder:
    """Every version of one topic's schema, found by the fingerprint in the message header."""

    def __init__(self, folder: Path) -> None:
        files = sorted(folder.glob("v*.avsc"), key=lambda path: int(path.stem[1:]))
        self.versions = [parse_schema(json.loads(path.read_text())) for path in files]
        self.latest = self.versions[-1]
        self.by_fingerprint = {
            bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")): schema
            for schema in self.versions
        }

    def decode(self, data: bytes) -> dict[str, Any]:
        if data[:2] != MARKER or data[2:10] not in self.by_fingerprint:
            raise ValueError(f"not a message of a known schema version (header {data[:10].hex()})")
        record: dict[str, Any] = schemaless_reader(io.BytesIO(data[10:]), self.by_fingerprint[data[2:10]],
                                                   self.latest)
        return record


def read_period(bootstrap: str, schemas: Path, scope: str, period: str, timeout: float
                ) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None, int]:
    """(lines by payout_id, the control record or None, duplicate copies dropped)."""
    decoders = {"payouts": Decoder(schemas / "payouts"), "payouts.control": Decoder(schemas / "payouts.control")}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"payroll-example-{scope}-{period}",
                         "enable.auto.commit": False})
    partitions = [TopicPartition(topic, partition, 0)  # offset 0: from the beginning
                  for topic in decoders
                  for partition in consumer.list_topics(topic, timeout=30).topics[topic].partitions]
    consumer.assign(partitions)
    prefix, control_id = f"{scope}/{period}/", f"{scope}/{period}/control"
    lines: dict[str, dict[str, Any]] = {}
    control: dict[str, Any] | None = None
    duplicates = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and (control is None or len(lines) < control["line_count"]):
            for message in consumer.consume(500, 0.5):
                if message.error() is not None:
                    continue
                # The key names the line (payout_id) or the control record (control_id): other periods'
                # messages are skipped before decoding, whatever framing their writer chose.
                key = (message.key() or b"").decode("utf-8", "replace")
                if not key.startswith(prefix) and key != control_id:
                    continue
                record = decoders[message.topic() or ""].decode(message.value() or b"")
                if message.topic() == "payouts.control":
                    if record["control_id"] == control_id:
                        control = record
                elif record["payout_id"].startswith(prefix):
                    if record["payout_id"] in lines:
                        duplicates += 1  # a re-published copy: byte-identical, keep the first
                    else:
                        lines[record["payout_id"]] = record
    finally:
        consumer.close()
    return lines, control, duplicates


def check(lines: dict[str, dict[str, Any]], control: dict[str, Any]) -> list[str]:
    """What does not add up between the lines and the control record (empty: all good)."""
    problems = []
    totals: dict[str, tuple[int, Decimal]] = {}
    for line in lines.values():
        count, amount = totals.get(line["currency"], (0, Decimal(0)))
        totals[line["currency"]] = (count + 1, amount + Decimal(line["amount"]))
        parts = sum((Decimal(part["amount"]) for part in line["earnings"]), Decimal(0))
        if line["earnings"] and parts != Decimal(line["amount"]):
            problems.append(f"{line['payout_id']}: earning codes sum to {parts}, line says {line['amount']}")
    if len(lines) != control["line_count"]:
        problems.append(f"{len(lines)} lines, control record says {control['line_count']}")
    expected = {t["currency"]: (t["line_count"], Decimal(t["amount"])) for t in control["totals"]}
    if totals != expected:
        problems.append(f"totals {sorted(totals.items())} != control {sorted(expected.items())}")
    return problems


def main(argv: list[str]) -> int:
    bootstrap, schemas, scope, period = argv[0], Path(argv[1]), argv[2], argv[3]
    timeout = float(argv[4]) if len(argv) > 4 else 60.0
    lines, control, duplicates = read_period(bootstrap, schemas, scope, period, timeout)
    if control is None or len(lines) < control["line_count"]:
        announced = "no control record" if control is None else f"control record says {control['line_count']}"
        print(f"INCOMPLETE {scope}/{period} lines={len(lines)} ({announced})")
        return 2
    problems = check(lines, control)
    if problems:
        print(f"MISMATCH {scope}/{period} " + "; ".join(problems))
        return 1
    for line in sorted(lines.values(), key=lambda line: line["payout_id"]):
        parts = line["earnings"] or [{"earning_code": "-", "amount": line["amount"]}]
        for part in parts:
            print(f"PAY {line['hr_id'] or '-'} {line['rep_id']} {line['currency']} {part['earning_code']} "
                  f"{part['amount']}")
    sums = " ".join(f"{t['currency']}={t['amount']}" for t in control["totals"])
    print(f"COMPLETE {scope}/{period} lines={len(lines)} duplicates={duplicates} {sums}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
