"""Notifications: one per (order, event), the right words, the caller's own, oldest first."""

import uuid
from decimal import Decimal

import pytest

from lotus.contracts.orders import (
    OrderCancelled,
    OrderInDelivery,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    OrderReserved,
)
from lotus.messaging.registry import Outcome
from lotus.testing import api_client, deliver, deliver_envelope
from notifications.handlers import REGISTRY
from notifications.models import Notification

pytestmark = pytest.mark.django_db(databases="__all__")
ORDER = uuid.uuid4()


def tell(message):
    return deliver(message, to="notifications", handlers=REGISTRY, correlation_id=str(message.order_id))


@pytest.mark.parametrize(
    ("message", "event", "words"),
    [
        (OrderPaymentFailed(order_id=ORDER, customer_id=1, shortfall=Decimal("250")), "payment_failed", "250.00 more"),
        (OrderPaid(order_id=ORDER, customer_id=1, amount=Decimal("300")), "order_paid", "is paid"),
        (OrderReserved(order_id=ORDER, customer_id=1), "order_reserved", "reserved"),
        (OrderInDelivery(order_id=ORDER, customer_id=1), "order_in_delivery", "courier"),
        (
            OrderCancelled(order_id=ORDER, customer_id=1, refunded=Decimal("300"), reason="cancelled by the customer"),
            "order_cancelled",
            "300.00 was refunded",
        ),
    ],
)
def test_each_order_event_becomes_one_notification(message, event, words):
    tell(message)
    notification = Notification.objects.get(order_id=ORDER)
    assert notification.event == event
    assert words in notification.message
    assert notification.customer_id == 1


def test_a_duplicate_or_a_repeated_event_creates_nothing_more():
    outcome, envelope = tell(OrderPaid(order_id=ORDER, customer_id=1, amount=Decimal("300")))
    assert outcome is Outcome.APPLIED
    assert deliver_envelope(envelope, to="notifications", handlers=REGISTRY) is Outcome.DUPLICATE
    assert tell(OrderPaid(order_id=ORDER, customer_id=1, amount=Decimal("300")))[0] is Outcome.APPLIED
    assert Notification.objects.filter(order_id=ORDER).count() == 1


def test_an_order_placed_event_is_not_a_notification():
    assert tell(OrderPlaced(order_id=ORDER, customer_id=1, product_id=1, price=Decimal("300")))[0] is Outcome.IGNORED
    assert not Notification.objects.exists()


def test_the_feed_is_the_callers_own_oldest_first():
    other = uuid.uuid4()
    tell(OrderPaid(order_id=ORDER, customer_id=1, amount=Decimal("300")))
    tell(OrderReserved(order_id=ORDER, customer_id=1))
    tell(OrderPaid(order_id=other, customer_id=2, amount=Decimal("300")))
    feed = api_client(1).get("/notification")
    assert feed.status_code == 200
    assert [(n["orderId"], n["event"]) for n in feed.json()] == [
        (str(ORDER), "order_paid"),
        (str(ORDER), "order_reserved"),
    ]
    assert set(feed.json()[0]) == {"id", "orderId", "event", "message", "createdAt"}
    assert [n["orderId"] for n in api_client(2).get("/notification").json()] == [str(other)]
    assert api_client(1).get(f"/notification?orderId={other}").json() == []
    assert api_client(1).get("/notification?orderId=nope").status_code == 400
    assert api_client().get("/notification").status_code == 401
