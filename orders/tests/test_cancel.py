"""Cancellation: compensations for exactly the steps taken, late replies, and the API."""

from decimal import Decimal

import pytest

from lotus.contracts.billing import PaymentRefunded, PaymentTaken, RefundOrder
from lotus.contracts.delivery import CourierReleased, CourierReserved, ReleaseCourier
from lotus.contracts.orders import OrderCancelled
from lotus.contracts.stock import ReleaseStock, ReserveStock, StockReleased, StockReserved
from lotus.errors import Conflict
from lotus.testing import api_client, published
from orders.models import Order

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("catalog")]


@pytest.fixture
def order_in(place, reply, status_of):
    """``order_in(state)``: an order of customer 7 brought to ``state`` by its replies."""

    def order_in(state: str) -> Order:
        order = place(customer_id=7, product_id=1)
        if state in ("ValidatingStock", "ValidatingDelivery"):
            reply(PaymentTaken(order_id=order.id, customer_id=7, amount=Decimal("300")))
        if state == "ValidatingDelivery":
            reply(StockReserved(order_id=order.id, product_id=1, quantity=1))
        assert status_of(order) == state
        return order

    return order_in


COMPENSATIONS = {
    "ValidatingBilling": [RefundOrder],
    "ValidatingStock": [RefundOrder, ReleaseStock],
    "ValidatingDelivery": [RefundOrder, ReleaseStock, ReleaseCourier],
}


@pytest.mark.parametrize("state", list(COMPENSATIONS))
def test_cancelling_asks_to_compensate_exactly_the_steps_taken_and_ends_cancelled(
    state, order_in, cancel, reply, status_of
):
    order = order_in(state)
    cancel(order_id=order.id, customer_id=7)
    assert status_of(order) == "Cancelling"
    sent = published("orders", RefundOrder, ReleaseStock, ReleaseCourier)
    assert [type(message) for message in sent] == COMPENSATIONS[state]

    refunded = Decimal("0") if state == "ValidatingBilling" else Decimal("300")
    replies = {
        RefundOrder: PaymentRefunded(order_id=order.id, customer_id=7, amount=refunded),
        ReleaseStock: StockReleased(order_id=order.id, quantity=1),
        ReleaseCourier: CourierReleased(order_id=order.id),
    }
    for kind in COMPENSATIONS[state]:
        assert published("orders", OrderCancelled) == []
        reply(replies[kind])
    assert status_of(order) == "Cancelled"
    assert published("orders", OrderCancelled) == [
        OrderCancelled(order_id=order.id, customer_id=7, refunded=refunded, reason="cancelled by the customer")
    ]
    assert [t.target for t in Order.objects.get(id=order.id).transitions.all()][-2:] == ["Cancelling", "Cancelled"]


def test_a_reply_that_arrives_after_the_cancel_does_not_move_the_saga_forward(order_in, cancel, reply, status_of):
    order = order_in("ValidatingBilling")
    cancel(order_id=order.id, customer_id=7)
    reply(PaymentTaken(order_id=order.id, customer_id=7, amount=Decimal("300")))  # a top-up paid it meanwhile
    assert status_of(order) == "Cancelling"
    assert published("orders", ReserveStock) == []
    reply(PaymentRefunded(order_id=order.id, customer_id=7, amount=Decimal("300")))
    assert status_of(order) == "Cancelled"
    assert Order.objects.get(id=order.id).refunded == Decimal("300")


def test_a_courier_reserved_during_the_cancel_is_released_by_the_compensation_already_sent(
    order_in, cancel, reply, status_of
):
    order = order_in("ValidatingDelivery")
    cancel(order_id=order.id, customer_id=7)
    reply(CourierReserved(order_id=order.id, courier_id=1, slot="2030-01-01T10:00:00Z"))
    assert status_of(order) == "Cancelling"
    assert published("orders", ReleaseCourier) == [ReleaseCourier(order_id=order.id)]


@pytest.mark.parametrize("final", ["NotifyingSourceSystem", "Cancelling", "Cancelled"])
def test_an_order_past_the_cancellable_states_cannot_be_cancelled(final, order_in, cancel, reply, status_of):
    order = order_in("ValidatingDelivery")
    if final == "NotifyingSourceSystem":
        reply(CourierReserved(order_id=order.id, courier_id=1, slot="2030-01-01T10:00:00Z"))
    else:
        cancel(order_id=order.id, customer_id=7)
        if final == "Cancelled":
            reply(PaymentRefunded(order_id=order.id, customer_id=7, amount=Decimal("300")))
            reply(StockReleased(order_id=order.id, quantity=1))
            reply(CourierReleased(order_id=order.id))
    assert status_of(order) == final
    with pytest.raises(Conflict):
        cancel(order_id=order.id, customer_id=7)
    response = api_client(7).post(f"/order/{order.id}/cancel")
    assert response.status_code == 409
    assert final in response.json()["error"]["message"]


def test_the_cancel_api_answers_202_for_the_owner_and_404_for_anyone_else(order_in):
    order = order_in("ValidatingStock")
    assert api_client(8).post(f"/order/{order.id}/cancel").status_code == 404
    assert api_client().post(f"/order/{order.id}/cancel").status_code == 401
    response = api_client(7).post(f"/order/{order.id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "Cancelling"


def test_a_duplicate_compensation_reply_changes_nothing(order_in, cancel, reply, status_of):
    order = order_in("ValidatingStock")
    cancel(order_id=order.id, customer_id=7)
    reply(StockReleased(order_id=order.id, quantity=1))
    reply(StockReleased(order_id=order.id, quantity=1))
    assert status_of(order) == "Cancelling"
    assert Order.objects.get(id=order.id).pending_compensations == ["billing"]


def test_orders_waiting_past_their_deadline_are_cancelled_by_the_system(lotus_setting, order_in, reply, status_of):
    from datetime import timedelta

    from django.utils import timezone

    from orders.services import orders_expire

    lotus_setting("DEADLINES", PAYMENT=1800)
    lotus_setting("DEADLINES", STOCK=0)  # off
    late = order_in("ValidatingBilling")
    fresh = order_in("ValidatingBilling")
    waiting_for_stock = order_in("ValidatingStock")
    Order.objects.filter(id__in=[late.id, waiting_for_stock.id]).update(updated_at=timezone.now() - timedelta(hours=1))

    assert [order.id for order in orders_expire()] == [late.id]
    assert status_of(late) == "Cancelling"
    assert status_of(fresh) == "ValidatingBilling"
    assert status_of(waiting_for_stock) == "ValidatingStock"
    assert Order.objects.get(id=late.id).cancel_reason == "payment did not happen within 30 min"
    reply(PaymentRefunded(order_id=late.id, customer_id=7, amount=Decimal("0")))
    assert published("orders", OrderCancelled)[-1].reason == "payment did not happen within 30 min"
    assert orders_expire() == []
