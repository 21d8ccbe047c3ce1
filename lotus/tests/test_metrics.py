"""/metrics on the web process: HTTP series, outbox backlog and orders by state."""

import pytest

from lotus.contracts.diagnostics import Ping
from lotus.messaging.unit_of_work import UnitOfWork

pytestmark = pytest.mark.django_db(databases="__all__")


def value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in /metrics")


def test_web_metrics_show_http_outbox_and_order_series(client):
    with UnitOfWork("billing", publisher=None) as uow:
        for _ in range(3):
            uow.send(Ping())
    client.get("/healthz")
    text = client.get("/metrics").content.decode()
    assert value(text, 'lotus_outbox_backlog{service="billing"}') == 3
    assert value(text, 'lotus_outbox_backlog{service="stock"}') == 0
    assert value(text, 'lotus_outbox_oldest_unsent_age_seconds{service="billing"}') >= 0
    assert value(text, 'lotus_orders{state="ValidatingBilling"}') == 0
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in text
