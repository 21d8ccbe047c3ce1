"""The deadline checker: it cancels only an order that is still where it was read and has been
there past the deadline (checked under the row lock, by the database's clock), and it
escalates a cancellation whose compensations are overdue, once."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.utils import timezone

from lotus.contracts import Envelope
from lotus.contracts.billing import PaymentRefunded, PaymentTaken, RefundOrder
from lotus.contracts.stock import ReleaseStock, ReserveStock, StockReleased
from lotus.messaging.models import OutboxMessage
from lotus.testing import lotus_override, published, wait_for
from orders.metrics import OrdersByStateCollector
from orders.models import Order
from orders.services import (
    order_cancel,
    order_escalate,
    order_expire,
    order_payment_taken,
    order_place,
    orders_expire,
    orders_past_deadline,
)
from orders.tests.test_saga import reply, status_of

pytestmark = pytest.mark.usefixtures("catalog")
all_databases = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def deadlines():
    with lotus_override("DEADLINES", PAYMENT=60, STOCK=60, CANCELLING=300):
        yield


def backdate(order, **ago):
    Order.objects.filter(id=order.id).update(updated_at=timezone.now() - timedelta(**ago))


@all_databases
def test_an_order_paid_between_the_read_and_the_expiry_is_not_cancelled_and_moves_on():
    order = order_place(customer_id=7, product_id=1)
    backdate(order, minutes=5)
    assert (order.id, "ValidatingBilling") in orders_past_deadline()

    order_payment_taken(order_id=order.id)  # the payment arrives meanwhile

    assert order_expire(order_id=order.id, status="ValidatingBilling") is None
    assert status_of(order) == "ValidatingStock"
    assert published("orders", RefundOrder) == []
    assert published("orders", ReserveStock) == [ReserveStock(order_id=order.id, product_id=1)]
    assert orders_expire() == []  # and it is not yet past the stock deadline


@pytest.mark.django_db(databases="__all__", transaction=True)
@lotus_override("WEB", PUBLISHES=False)  # the rows stay in the outbox: no Kafka in this test
def test_a_payment_committed_while_the_checker_waits_for_the_row_lock_wins():
    """The race as it happens: the checker reads the id, the payment holds the order's row lock,
    the checker waits for it; once the payment commits, the order is no longer expired."""
    order = order_place(customer_id=7, product_id=1)
    backdate(order, minutes=5)
    paid, commit = threading.Event(), threading.Event()
    cancelled: list[Order] = []

    def pay():
        try:
            with transaction.atomic(using="orders"):
                order_payment_taken(order_id=order.id)
                paid.set()
                commit.wait(30)
        finally:
            connections.close_all()

    def check():
        try:
            cancelled.extend(orders_expire())
        finally:
            connections.close_all()

    payer, checker = threading.Thread(target=pay), threading.Thread(target=check)
    payer.start()
    assert paid.wait(30)
    checker.start()
    wait_for(lambda: _waiting_for_a_lock("orders"), timeout=30, message="the checker to wait for the row lock")
    commit.set()
    payer.join(30)
    checker.join(30)

    assert cancelled == []
    assert status_of(order) == "ValidatingStock"
    assert published("orders", RefundOrder) == []


def _waiting_for_a_lock(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@all_databases
def test_the_age_is_measured_by_the_database_clock_not_the_checkers(monkeypatch):
    order = order_place(customer_id=7, product_id=1)
    backdate(order, seconds=30)
    ahead = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(timezone, "now", lambda: ahead)  # the checker's machine runs two minutes fast
    assert orders_expire() == []
    assert status_of(order) == "ValidatingBilling"
    monkeypatch.undo()
    backdate(order, seconds=61)
    assert [o.id for o in orders_expire()] == [order.id]
    assert status_of(order) == "Cancelling"


def cancelling_with_billing_overdue() -> Order:
    order = order_place(customer_id=7, product_id=1)
    reply(PaymentTaken(order_id=order.id, customer_id=7, amount=Decimal("300")))
    order_cancel(order_id=order.id, customer_id=7)
    reply(StockReleased(order_id=order.id, quantity=1))  # stock confirmed; billing's answer is lost
    assert Order.objects.get(id=order.id).pending_compensations == ["billing"]
    return order


def escalated_gauge() -> dict[str, float]:
    family = next(f for f in OrdersByStateCollector().collect() if f.name == "lotus_orders_escalated")
    return {sample.labels["state"]: sample.value for sample in family.samples}


@all_databases
def test_a_cancellation_past_its_deadline_is_escalated_once_and_asks_again_for_what_is_pending():
    order = cancelling_with_billing_overdue()
    assert orders_expire() == []
    assert Order.objects.get(id=order.id).escalated_at is None  # not yet past the deadline

    backdate(order, minutes=6)
    assert orders_expire() == []  # nothing is cancelled; the cancellation is escalated
    escalated = Order.objects.get(id=order.id)
    assert escalated.status == "Cancelling"
    assert escalated.escalated_at is not None
    last = escalated.transitions.last()
    assert (last.source, last.target) == ("Cancelling", "Cancelling")
    assert last.reason == "escalated: billing not confirmed within 5 min; asked again"
    refunds = _envelopes("RefundOrder")
    assert len({refund.id for refund in refunds}) == 2  # a new message, not the lost one again
    assert published("orders", RefundOrder) == [RefundOrder(order_id=order.id, customer_id=7)] * 2
    assert published("orders", ReleaseStock) == [ReleaseStock(order_id=order.id)]  # confirmed: not asked again
    assert escalated_gauge() == {"Cancelling": 1, "Cancelled": 0}

    assert orders_expire() == []
    assert order_escalate(order_id=order.id) is None  # once
    assert len(_envelopes("RefundOrder")) == 2

    reply(PaymentRefunded(order_id=order.id, customer_id=7, amount=Decimal("300")))
    assert status_of(order) == "Cancelled"
    assert Order.objects.get(id=order.id).refunded == Decimal("300")
    assert escalated_gauge() == {"Cancelling": 0, "Cancelled": 1}


@all_databases
@lotus_override("DEADLINES", CANCELLING=0)
def test_escalation_can_be_turned_off():
    order = cancelling_with_billing_overdue()
    backdate(order, days=1)
    assert orders_expire() == []
    assert Order.objects.get(id=order.id).escalated_at is None
    assert len(_envelopes("RefundOrder")) == 1


@all_databases
def test_the_admin_lists_the_escalated_orders_still_cancelling(client, django_user_model):
    stuck, fine = cancelling_with_billing_overdue(), cancelling_with_billing_overdue()
    backdate(stuck, minutes=6)
    orders_expire()
    client.force_login(django_user_model.objects.create_superuser("admin@lotus.test", "a-long-admin-password"))
    page = client.get("/admin/orders/order/?escalated=stuck").content.decode()
    assert str(stuck.id) in page
    assert str(fine.id) not in page
    detail = client.get(f"/admin/orders/order/{stuck.id}/change/").content.decode()
    assert "escalated: billing not confirmed" in detail


def _envelopes(message_type: str) -> list[Envelope]:
    rows = OutboxMessage.objects.using("orders").filter(message_type=message_type).order_by("id")
    return [Envelope.from_bytes(body) for body in rows.values_list("body", flat=True)]
