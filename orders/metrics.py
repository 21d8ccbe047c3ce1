"""Orders' Prometheus collector: how many orders are in each state (read at scrape time)."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orders.models import Order


class OrdersByStateCollector(Collector):
    def describe(self):
        yield GaugeMetricFamily("lotus_orders", "Orders by saga state", labels=["state"])

    def collect(self):
        gauge = GaugeMetricFamily("lotus_orders", "Orders by saga state", labels=["state"])
        counts = dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        for state in Order.Status.values:
            gauge.add_metric([state], counts.get(state, 0))
        yield gauge
