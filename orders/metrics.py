"""Orders' Prometheus collector, read at scrape time: how many orders are in each state, and
how many cancellations the deadline checker escalated, by the state they are in now (those
still ``Cancelling`` wait for the operator)."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orders.models import Order


class OrdersByStateCollector(Collector):
    def describe(self):
        yield GaugeMetricFamily("lotus_orders", "Orders by saga state", labels=["state"])
        yield GaugeMetricFamily("lotus_orders_escalated", "Escalated cancellations by saga state", labels=["state"])

    def collect(self):
        gauge = GaugeMetricFamily("lotus_orders", "Orders by saga state", labels=["state"])
        counts = dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        for state in Order.Status.values:
            gauge.add_metric([state], counts.get(state, 0))
        yield gauge
        escalated = GaugeMetricFamily(
            "lotus_orders_escalated", "Escalated cancellations by saga state", labels=["state"]
        )
        by_state = Order.objects.filter(escalated_at__isnull=False).values_list("status").annotate(n=Count("id"))
        counts = dict(by_state.values_list("status", "n"))
        for state in (Order.Status.CANCELLING, Order.Status.CANCELLED):
            escalated.add_metric([state], counts.get(state, 0))
        yield escalated
