"""One notification per (order, event), whatever arrives twice and however concurrently."""

import uuid
from decimal import Decimal

import pytest

from lotus.contracts.orders import OrderCancelled, OrderPaid, OrderPaymentFailed
from lotus.messaging.registry import Outcome
from lotus.testing import deliver, run_together
from notifications.handlers import REGISTRY
from notifications.models import Notification

pytestmark = pytest.mark.django_db(databases="__all__")


def tell(message):
    return deliver(message, to="notifications", handlers=REGISTRY, correlation_id=str(message.order_id))[0]


def test_a_repeat_creates_nothing_and_keeps_the_first_words(notify):
    order = uuid.uuid4()
    first = notify(customer_id=1, order_id=order, event="order_paid", message="first")
    assert first is not None
    assert first.pk is not None
    assert notify(customer_id=1, order_id=order, event="order_paid", message="second") is None
    assert list(Notification.objects.values_list("message", flat=True)) == ["first"]


def test_the_same_event_of_another_order_is_another_notification(notify):
    for order in (uuid.uuid4(), uuid.uuid4()):
        assert notify(customer_id=1, order_id=order, event="order_paid", message="paid") is not None
    assert Notification.objects.count() == 2


def test_a_second_payment_failure_of_the_order_keeps_the_first_shortfall():
    order = uuid.uuid4()
    assert tell(OrderPaymentFailed(order_id=order, customer_id=1, shortfall=Decimal("300"))) is Outcome.APPLIED
    assert tell(OrderPaymentFailed(order_id=order, customer_id=1, shortfall=Decimal("100"))) is Outcome.APPLIED
    notification = Notification.objects.get(order_id=order)
    assert "300.00 more is needed" in notification.message
    assert "Top up your balance" in notification.message


def test_a_cancellation_before_payment_says_nothing_was_refunded():
    order = uuid.uuid4()
    tell(OrderCancelled(order_id=order, customer_id=1, refunded=Decimal("0"), reason="cancelled by the customer"))
    message = Notification.objects.get(order_id=order, event="order_cancelled").message
    assert "cancelled by the customer" in message
    assert "nothing had been charged" in message
    assert "refunded" not in message.replace("nothing had been charged", "")


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_concurrent_creates_of_one_order_event_leave_one_row_and_no_error(notify):
    order = uuid.uuid4()
    errors = run_together(
        [lambda n=n: notify(customer_id=1, order_id=order, event="order_paid", message=f"paid {n}") for n in range(4)]
    )
    assert errors == []
    assert Notification.objects.filter(order_id=order).count() == 1


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_distinct_events_of_one_kind_applied_concurrently_both_commit_with_one_row():
    order = uuid.uuid4()
    outcomes = []
    errors = run_together(
        [lambda: outcomes.append(tell(OrderPaid(order_id=order, customer_id=1, amount=Decimal("300"))))] * 2
    )
    assert errors == []
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    assert Notification.objects.filter(order_id=order, event="order_paid").count() == 1
