"""Notifications on a fake unit of work (no database): each order event becomes one
notification with its words; a repeat of an (order, event) creates nothing and sends nothing."""

import uuid
from decimal import Decimal

import pytest

from lotus.contracts import Envelope
from lotus.contracts.orders import OrderCancelled, OrderInDelivery, OrderPaid, OrderPaymentFailed, OrderReserved
from lotus.messaging.registry import MessageRejected, Outcome
from lotus.testing import FakeUnitOfWork
from notifications.handlers import REGISTRY
from notifications.models import Notification
from notifications.services import notification_create

ORDER = uuid.UUID(int=1)


def handle(message, uow: FakeUnitOfWork) -> Outcome:
    return REGISTRY.handle(Envelope.wrap(message, source="test", correlation_id=str(message.order_id)), uow)


@pytest.mark.parametrize(
    ("message", "event", "words"),
    [
        (OrderPaymentFailed(order_id=ORDER, customer_id=1, shortfall=Decimal("250")), "payment_failed", "250.00 more"),
        (OrderPaid(order_id=ORDER, customer_id=1, amount=Decimal("300")), "order_paid", "is paid (300.00)"),
        (OrderReserved(order_id=ORDER, customer_id=1), "order_reserved", "reserved at the warehouse"),
        (OrderInDelivery(order_id=ORDER, customer_id=1), "order_in_delivery", "a courier has it"),
        (
            OrderCancelled(order_id=ORDER, customer_id=1, refunded=Decimal("0"), reason="payment did not happen"),
            "order_cancelled",
            "(payment did not happen); nothing had been charged",
        ),
    ],
)
def test_each_order_event_inserts_one_notification_and_sends_nothing(message, event, words):
    uow = FakeUnitOfWork("notifications")
    assert handle(message, uow) is Outcome.APPLIED
    [notification] = uow.rows
    assert isinstance(notification, Notification)
    assert (notification.customer_id, notification.order_id, notification.event) == (1, ORDER, event)
    assert words in notification.message
    assert uow.sent == []


def test_a_repeated_order_event_keeps_the_first_notification():
    uow = FakeUnitOfWork("notifications")
    first = notification_create(uow=uow, customer_id=1, order_id=ORDER, event="order_paid", message="first")
    assert first is not None
    assert notification_create(uow=uow, customer_id=1, order_id=ORDER, event="order_paid", message="again") is None
    assert notification_create(uow=uow, customer_id=1, order_id=ORDER, event="order_reserved", message="x") is not None
    assert [(n.event, n.message) for n in uow.rows] == [("order_paid", "first"), ("order_reserved", "x")]


@pytest.mark.parametrize(
    "message",
    [
        OrderReserved(order_id=ORDER, customer_id=2),
        OrderPaid(order_id=ORDER, customer_id=2, amount=Decimal("300")),  # the same event, another customer
    ],
)
def test_an_event_that_names_another_customer_than_the_orders_notifications_is_rejected(message):
    paid = Notification(customer_id=1, order_id=ORDER, event="order_paid", message="Order is paid.")
    uow = FakeUnitOfWork("notifications", rows=[paid])
    with pytest.raises(MessageRejected, match="for customer 1"):
        handle(message, uow)
    assert uow.rows == [paid]
    assert uow.sent == []
