"""One typed contract per topic: the record types, their Avro mappings and the codecs.

| topic | module | types |
|---|---|---|
| ``crm.changes`` | :mod:`attain.contracts.crm_changes` | ``ChangeRecord``; validation (``normalise``) |
| ``earnings`` | :mod:`attain.contracts.earnings` | ``EarningsSnapshot``, ``ComponentEarnings`` |
| ``payouts``, ``payouts.control`` | :mod:`attain.contracts.payouts` | ``PayoutLine``, ``PayoutControl`` |
| ``ledger.events`` | :mod:`attain.contracts.ledger_events` | ``LedgerEvent`` |
| ``*.dlq`` | :mod:`attain.contracts.dead_letters` | ``DeadLetter``, ``ErrorCode`` |

The schemas themselves are ``schemas/<topic>/vN.avsc``; the framing is :mod:`attain.platform.avro`.
Nothing here imports ``services``: services, tools and tests import these.
"""
