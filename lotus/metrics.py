"""Prometheus metrics of Lotus.

* Web processes serve ``/metrics`` through django-prometheus (HTTP latency and counts).
* Relays and consumers serve ``/metrics`` on ``LOTUS_METRICS_PORT`` when it is set
  (:func:`serve`); ``make up`` leaves it unset because its processes share one machine.
* Every process also exports, read from the databases at scrape time, the outbox backlog and
  the age of the oldest unsent row per service (:class:`OutboxCollector`), plus whatever the
  collectors named in ``lotus_settings.METRICS["COLLECTORS"]`` add for the services it runs
  (orders: orders by state).
"""

from __future__ import annotations

import logging
from importlib import import_module

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lotus.conf import lotus_settings
from lotus.topology import alias_for

log = logging.getLogger(__name__)

RELAY_PUBLISHED = Counter("lotus_relay_published", "Outbox rows published and acknowledged", ["service"])
REQUEST_PUBLISHED = Counter(
    "lotus_request_published", "Outbox rows a web request published itself after its commit", ["service"]
)
CONSUMER_PUBLISHED = Counter(
    "lotus_consumer_published", "Outbox rows a consumer published itself after its commit", ["service"]
)
RELAY_PARKED = Counter(
    "lotus_relay_parked", "Outbox rows set aside after the broker refused them too often", ["service"]
)
RELAY_BATCH_SECONDS = Histogram(
    "lotus_relay_batch_seconds",
    "Time to publish one outbox batch",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONSUMER_MESSAGES = Counter("lotus_consumer_messages", "Records handled by outcome", ["service", "type", "outcome"])
CONSUMER_SECONDS = Histogram(
    "lotus_consumer_processing_seconds",
    "Time to apply one message (inbox, handler, outbox; one transaction)",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONSUMER_RETRIES = Counter("lotus_consumer_retries", "Handler failures that were retried", ["service"])
DEAD_LETTERS = Counter("lotus_consumer_dead_letters", "Messages sent to the dead letters", ["service"])
SAGA_SECONDS = Histogram(
    "lotus_saga_duration_seconds",
    "From order placement to a final state, by outcome",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
)


PARKED_HELP = "Outbox rows set aside after repeated refusals, waiting for an operator's replay"


class OutboxCollector(Collector):
    """Outbox backlog and oldest-unsent age of the services this process knows of."""

    def __init__(self, services: list[str]) -> None:
        self.services = services

    def describe(self):
        # Without describe(), registering would call collect() and query every database.
        yield GaugeMetricFamily("lotus_outbox_backlog", "Unsent outbox rows", labels=["service"])
        yield GaugeMetricFamily(
            "lotus_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent row", labels=["service"]
        )
        yield GaugeMetricFamily("lotus_outbox_parked", PARKED_HELP, labels=["service"])

    def collect(self):
        from lotus.messaging.models import OutboxMessage

        backlog = GaugeMetricFamily("lotus_outbox_backlog", "Unsent outbox rows", labels=["service"])
        age = GaugeMetricFamily(
            "lotus_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent row", labels=["service"]
        )
        parked = GaugeMetricFamily("lotus_outbox_parked", PARKED_HELP, labels=["service"])
        now = timezone.now()
        for service in self.services:
            try:
                unsent = OutboxMessage.objects.using(alias_for(service)).filter(sent_at__isnull=True)
                summary = unsent.aggregate(
                    oldest=Min("created_at"), count=Count("id"), parked=Count("id", filter=Q(parked_at__isnull=False))
                )
            except Exception as exc:  # noqa: BLE001 -- a scrape must not fail because one database is away
                log.warning("metrics: outbox of %s unavailable: %s", service, exc)
                continue
            backlog.add_metric([service], summary["count"])
            age.add_metric([service], (now - summary["oldest"]).total_seconds() if summary["oldest"] else 0.0)
            parked.add_metric([service], summary["parked"])
        yield backlog
        yield age
        yield parked


_registered = False


def register_collectors(services: list[str]) -> None:
    """Register the database-backed collectors once per process."""
    global _registered
    if _registered:
        return
    _registered = True
    REGISTRY.register(OutboxCollector(services))
    for service, path in lotus_settings.METRICS["COLLECTORS"].items():
        if service not in services:
            continue
        module, name = path.rsplit(".", 1)
        REGISTRY.register(getattr(import_module(module), name)())


def serve(services: list[str]) -> None:
    """Serve ``/metrics`` on ``LOTUS_METRICS_PORT`` (relay and consumer processes), if set."""
    register_collectors(services)
    port = lotus_settings.METRICS["PORT"]
    if port:
        start_http_server(port)
        log.info("metrics on :%d/metrics", port)
