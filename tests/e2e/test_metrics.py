"""After a saga, /metrics of a web, a relay and a consumer process show plausible series."""

import re

import pytest
import requests

from lotus.testing import wait_for

pytestmark = pytest.mark.e2e
SERVICES = ["profiles", "billing", "orders", "stock", "delivery", "notifications"]


def scrape(port: int) -> str:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def value(text: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"no series matching {pattern}"
    return float(match.group(1))


def test_web_relay_and_consumer_metrics_after_a_saga(stack):
    port = int(stack.env["LOTUS_PORT"])
    orders = SERVICES.index("orders") + 1
    api = stack.customer(money=1000)
    order_id = api.call("POST", "/order/place?idSubscription=1").json()["orderId"]
    wait_for(
        lambda: api.call("GET", f"/order/{order_id}").json()["status"] == "NotifyingSourceSystem",
        timeout=30,
        message="the saga",
    )

    consumer = wait_for(
        lambda: (
            (text := scrape(port + 20 + orders))
            and 'lotus_saga_duration_seconds_count{outcome="completed"}' in text
            and text
        ),
        timeout=10,
        message="the saga duration series",
    )
    assert value(consumer, r'lotus_saga_duration_seconds_count\{outcome="completed"\}') >= 1
    assert value(consumer, r'lotus_saga_duration_seconds_sum\{outcome="completed"\}') > 0
    assert (
        value(consumer, r'lotus_consumer_messages_total\{outcome="applied",service="orders",type="PaymentTaken"\}') >= 1
    )
    assert value(consumer, r'lotus_outbox_backlog\{service="orders"\}') >= 0
    # What the consumer wrote it published itself: at least ReserveStock and ReserveCourier.
    assert value(consumer, r'lotus_consumer_published_total\{service="orders"\}') >= 2

    relay = scrape(port + 10 + orders)
    assert value(relay, r'lotus_outbox_oldest_unsent_age_seconds\{service="orders"\}') < 60

    web = scrape(port + orders)
    # What the place request wrote it published itself after its commit: OrderPlaced and ChargeOrder.
    assert value(web, r'lotus_request_published_total\{service="orders"\}') >= 2
    assert value(web, r'lotus_orders\{state="NotifyingSourceSystem"\}') >= 1
    assert 'django_http_requests_total_by_view_transport_method_total{method="POST"' in web
