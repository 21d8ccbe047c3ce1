"""The saga through the orders service's real inbox + handler transaction (no Kafka)."""

import uuid
from decimal import Decimal

import pytest

from lotus.contracts.billing import ChargeOrder, PaymentFailed, PaymentTaken
from lotus.contracts.delivery import CourierPending, CourierReserved, ReserveCourier
from lotus.contracts.orders import OrderInDelivery, OrderPaid, OrderPaymentFailed, OrderPlaced, OrderReserved
from lotus.contracts.stock import ReserveStock, StockBackordered, StockReserved
from lotus.messaging.models import InboxMessage
from lotus.messaging.registry import MessageRejected, Outcome
from lotus.testing import deliver_envelope, published
from orders.handlers import REGISTRY
from orders.models import Order

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("catalog")]


def history_of(order):
    return [(t.source, t.target) for t in Order.objects.get(id=order.id).transitions.all()]


def test_placing_an_order_records_it_waiting_for_billing_and_asks_for_the_charge(place):
    order = place(customer_id=7, product_id=1)
    assert order.status == "ValidatingBilling"
    assert order.price == Decimal("300.00")
    assert published("orders") == [
        OrderPlaced(order_id=order.id, customer_id=7, product_id=1, price=Decimal("300")),
        ChargeOrder(order_id=order.id, customer_id=7, amount=Decimal("300")),
    ]
    assert history_of(order) == [("", "ValidatingBilling")]


def test_the_saga_moves_forward_on_each_reply_and_writes_the_next_command(place, reply, status_of):
    order = place(customer_id=7, product_id=3)

    assert reply(PaymentTaken(order_id=order.id, customer_id=7, amount=Decimal("1200")))[0] is Outcome.APPLIED
    assert status_of(order) == "ValidatingStock"
    assert published("orders", ReserveStock) == [ReserveStock(order_id=order.id, product_id=3)]
    assert published("orders", OrderPaid) == [OrderPaid(order_id=order.id, customer_id=7, amount=Decimal("1200"))]

    reply(StockBackordered(order_id=order.id, product_id=3))
    assert status_of(order) == "ValidatingStock"

    reply(StockReserved(order_id=order.id, product_id=3, quantity=1))
    assert status_of(order) == "ValidatingDelivery"
    assert published("orders", ReserveCourier) == [ReserveCourier(order_id=order.id, product_id=3, manual=True)]
    assert published("orders", OrderReserved) == [OrderReserved(order_id=order.id, customer_id=7)]

    reply(CourierPending(order_id=order.id, reason="awaiting operator acceptance"))
    assert status_of(order) == "ValidatingDelivery"

    reply(CourierReserved(order_id=order.id, courier_id=1, slot="2030-01-01T10:00:00Z"))
    assert status_of(order) == "NotifyingSourceSystem"
    assert published("orders", OrderInDelivery) == [OrderInDelivery(order_id=order.id, customer_id=7)]
    assert history_of(order) == [
        ("", "ValidatingBilling"),
        ("ValidatingBilling", "ValidatingStock"),
        ("ValidatingStock", "ValidatingDelivery"),
        ("ValidatingDelivery", "NotifyingSourceSystem"),
    ]


def test_a_failed_payment_keeps_the_order_waiting_and_tells_the_shortfall(place, reply, status_of):
    order = place(customer_id=8, product_id=2)
    reply(PaymentFailed(order_id=order.id, customer_id=8, amount=Decimal("700"), shortfall=Decimal("450.50")))
    assert status_of(order) == "ValidatingBilling"
    assert published("orders", OrderPaymentFailed) == [
        OrderPaymentFailed(order_id=order.id, customer_id=8, shortfall=Decimal("450.50"))
    ]
    reply(PaymentTaken(order_id=order.id, customer_id=8, amount=Decimal("700")))
    assert status_of(order) == "ValidatingStock"


def test_a_duplicate_reply_is_skipped_by_the_inbox(place, reply):
    order = place(customer_id=9, product_id=1)
    _, envelope = reply(PaymentTaken(order_id=order.id, customer_id=9, amount=Decimal("300")))
    assert deliver_envelope(envelope, to="orders", handlers=REGISTRY) is Outcome.DUPLICATE
    assert len(published("orders", ReserveStock)) == 1
    assert len(history_of(order)) == 2


def test_a_second_distinct_reply_for_a_passed_step_is_ignored_without_effect(place, reply, status_of):
    order = place(customer_id=9, product_id=1)
    reply(PaymentTaken(order_id=order.id, customer_id=9, amount=Decimal("300")))
    outcome, _ = reply(PaymentTaken(order_id=order.id, customer_id=9, amount=Decimal("300")))
    assert outcome is Outcome.APPLIED  # applied as a message, but the state does not allow it: no effect
    assert status_of(order) == "ValidatingStock"
    assert len(published("orders", ReserveStock)) == 1


def test_a_late_reply_is_ignored_and_the_saga_still_completes(place, reply, status_of):
    order = place(customer_id=10, product_id=1)
    reply(PaymentTaken(order_id=order.id, customer_id=10, amount=Decimal("300")))
    before = len(published("orders"))
    late = PaymentFailed(order_id=order.id, customer_id=10, amount=Decimal("300"), shortfall=Decimal(1))
    assert reply(late)[0] is Outcome.APPLIED
    assert status_of(order) == "ValidatingStock"
    assert len(published("orders")) == before
    reply(StockReserved(order_id=order.id, product_id=1, quantity=1))
    reply(CourierReserved(order_id=order.id, courier_id=1, slot="2030-01-01T10:00:00Z"))
    assert status_of(order) == "NotifyingSourceSystem"


@pytest.mark.parametrize(
    ("early", "why"),
    [
        (CourierReserved(order_id=uuid.UUID(int=0), courier_id=1, slot="2030-01-01T10:00:00Z"), "never asked"),
        (PaymentFailed(order_id=uuid.UUID(int=0), customer_id=1, amount=Decimal(1), shortfall=Decimal(1)), "match"),
    ],
)
def test_a_reply_never_asked_for_or_not_matching_is_rejected_unapplied_and_the_saga_still_completes(
    early, why, place, reply, status_of
):
    order = place(customer_id=10, product_id=1)
    reply(PaymentTaken(order_id=order.id, customer_id=10, amount=Decimal("300")))
    before = len(published("orders"))
    with pytest.raises(MessageRejected, match=why):
        reply(early.model_copy(update={"order_id": order.id}))
    assert status_of(order) == "ValidatingStock"
    assert len(published("orders")) == before
    assert InboxMessage.objects.using("orders").filter(message_type=early.type_name()).count() == 0
    reply(StockReserved(order_id=order.id, product_id=1, quantity=1))
    reply(CourierReserved(order_id=order.id, courier_id=1, slot="2030-01-01T10:00:00Z"))
    assert status_of(order) == "NotifyingSourceSystem"


def test_a_reply_for_an_unknown_order_is_rejected_not_a_crash(reply):
    with pytest.raises(MessageRejected, match="does not know"):
        reply(PaymentTaken(order_id=uuid.uuid4(), customer_id=1, amount=Decimal("1")))
    assert published("orders") == []
