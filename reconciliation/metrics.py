"""Prometheus metrics of the last reconciliation run, read from the default database at scrape time.

Registered for the profiles service (``lotus_settings.METRICS["COLLECTORS"]``): every process that
serves profiles (its web, the admin) exports them; the run itself may be a CronJob that is gone.
"""

from __future__ import annotations

import logging

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reconciliation.checks import KINDS

log = logging.getLogger(__name__)

DISAGREEMENTS = ("lotus_reconciliation_disagreements", "Disagreements the last reconciliation run found, by kind")
LAST_RUN = ("lotus_reconciliation_last_run_timestamp_seconds", "When the last reconciliation run started (Unix time)")
DURATION = ("lotus_reconciliation_duration_seconds", "How long the last reconciliation run took")


class ReconciliationCollector(Collector):
    def describe(self):
        # Without describe(), registering would call collect() and query the database.
        yield GaugeMetricFamily(*DISAGREEMENTS, labels=["kind"])
        yield GaugeMetricFamily(*LAST_RUN)
        yield GaugeMetricFamily(*DURATION)

    def collect(self):
        from reconciliation.selectors import run_last

        try:
            run = run_last()
        except Exception as exc:  # noqa: BLE001 -- a scrape must not fail because the database is away
            log.warning("metrics: last reconciliation run unavailable: %s", exc)
            return
        if run is None:
            return
        disagreements = GaugeMetricFamily(*DISAGREEMENTS, labels=["kind"])
        for kind in sorted(set(KINDS) | set(run.counts)):
            disagreements.add_metric([kind], run.counts.get(kind, 0))
        yield disagreements
        yield GaugeMetricFamily(*LAST_RUN, value=run.started_at.timestamp())
        yield GaugeMetricFamily(*DURATION, value=run.duration_seconds)
