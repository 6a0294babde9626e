"""Calculator (faust-streaming): CRM changes -> credits -> cumulative earnings snapshots.

Two stages, each batched, each keeping state as maps keyed by source record:

1. ``crm.changes`` (key = record id) -> table ``records`` (merged record state and
   where it last credited) -> ``calculator.credits`` (key = rep id): per rep and
   batch, the upserted credits of each touched record.
2. ``calculator.credits`` -> table ``rep-credits`` (latest credit per source record,
   per rep) -> the pure core -> ``earnings`` (key = rep id), one cumulative,
   versioned snapshot per touched (rep, period).

Where things are: stage 1 in :mod:`.credit_stage`, stage 2 in
:mod:`.earnings_stage` (its month cache in :mod:`.month_cache`), the tables in
:mod:`.state`, the bounds in :mod:`.limits`, the faust agents in :mod:`.app`.
Each batch ends in :func:`attain.platform.streams.checkpoint`.
"""
