"""Calculator settings (``ATTAIN_CALCULATOR_*``)."""

import gc
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CalculatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_CALCULATOR_")

    app_id: str = "attain-calculator"
    host: str = "127.0.0.1"
    port: int = 8082
    plans_file: Path = Path("examples/demo/plans.yaml")
    data_dir: Path = Path(".attain/calculator")
    # Records of one topic handed to a stage at once (one fetch at most). Larger
    # batches amortise stage 2, which recomputes each touched rep's period once per
    # batch: a backlog drained at ~8,100 events/s with 2,000 and ~10,100 with 5,000.
    # At a steady 500 events/s a batch is whatever arrived since the last fetch.
    max_batch: int = 5000
    # Allocations between young-generation collections (Python's default is 700).
    gc_threshold: int = 50_000
    # Other workers of the group that keep a hot copy of each table partition (faust standby replicas):
    # a worker taking a partition over then reads only the changelog its copy lacks (docs/operations.md,
    # "Scale-out and failover"). Each copy costs the memory and the changelog reads of the partition.
    standby_replicas: int = 1
    # A partition of crm.changes or calculator.credits with records waiting that no batch has moved for this
    # long is resumed from its committed offset (attain.platform.faust_adapter.StallGuard; logged, and counted
    # in attain_stream_partition_stalls_total). Longer than any one batch takes; a safety net, not a pace.
    stall_seconds: float = Field(default=30.0, gt=0)
    # Lineage (services/calculator/lineage.py): the ledger's operational URL, asked at start-up which
    # lineage it books (unset: not checked, said in the logs); rebuild mode starts over empty state even
    # when the ledger holds history (its snapshots are quarantined until `attain ledger adopt-lineage`).
    ledger_url: str | None = None
    ledger_wait_seconds: float = 60.0
    rebuild: bool = False


def configure_gc(settings: CalculatorSettings) -> None:
    """Collect cyclic garbage less often than Python's default.

    The state tables live in memory as objects, and each full collection walks
    all of them; with the default thresholds one runs every ~70,000 allocations,
    ~30 us per event in bench/stage_work.py (~10 with this setting). Young
    collections still run every ``gc_threshold`` allocations, a fraction of a
    second apart under load, so cyclic garbage is still freed soon.
    """
    gc.set_threshold(settings.gc_threshold, *gc.get_threshold()[1:])
