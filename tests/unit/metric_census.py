"""Every metric name the services export, from prometheus-client's registry once all their metrics
modules are imported (the census the alert rules and the dashboards are checked against)."""

from __future__ import annotations

import importlib

from prometheus_client import REGISTRY

# every module that registers metrics (grep: Counter(, Gauge(, Histogram( in attain/ and services/)
METRIC_MODULES = (
    "attain.platform.metrics",
    "attain.platform.streams",
    "services.calculator.metrics",
    "services.ingest.metrics",
    "services.ledger.metrics",
    "services.notifier.metrics",
    "services.issuer.app",
    "services.portal.live",
    "services.portal.gauges",
    "services.portal.dead_letter_view",
)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported_names() -> set[str]:
    """The series names (``attain_...``, with ``_total``, ``_bucket`` ... as scraped) of every metric."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("attain_"):
            names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names
