"""The deadline checker: it cancels only an order that is still where it was read and has been
there past the deadline (checked under the row lock, by the database's clock), and it
escalates a cancellation whose compensations are overdue, once."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from lotus.contracts import Envelope
from lotus.contracts.billing import PaymentRefunded, PaymentTaken, RefundOrder
from lotus.contracts.stock import ReleaseStock, ReserveStock, StockReleased
from lotus.messaging.models import OutboxMessage
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import published, wait_for
from orders.metrics import OrdersByStateCollector
from orders.models import Order
from orders.services import order_escalate, order_expire, order_payment_taken, orders_expire, orders_past_deadline

pytestmark = pytest.mark.usefixtures("catalog")
all_databases = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def deadlines(lotus_setting):
    lotus_setting("DEADLINES", PAYMENT=60)
    lotus_setting("DEADLINES", STOCK=60)
    lotus_setting("DEADLINES", CANCELLING=300)


def backdate(order, **ago):
    Order.objects.filter(id=order.id).update(updated_at=timezone.now() - timedelta(**ago))


@all_databases
def test_an_order_paid_between_the_read_and_the_expiry_is_not_cancelled_and_moves_on(place, status_of):
    order = place(customer_id=7, product_id=1)
    backdate(order, minutes=5)
    assert (order.id, "ValidatingBilling") in orders_past_deadline()

    with UnitOfWork("orders") as uow:
        order_payment_taken(
            uow=uow, order_id=order.id, customer_id=7, amount=Decimal("300")
        )  # the payment arrives meanwhile

    with UnitOfWork("orders") as uow:
        assert order_expire(uow=uow, order_id=order.id, status="ValidatingBilling") is None
    assert status_of(order) == "ValidatingStock"
    assert published("orders", RefundOrder) == []
    assert published("orders", ReserveStock) == [ReserveStock(order_id=order.id, product_id=1)]
    assert orders_expire() == []  # and it is not yet past the stock deadline


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_payment_committed_while_the_checker_waits_for_the_row_lock_wins(lotus_setting, place, status_of):
    """The race as it happens: the checker reads the id, the payment holds the order's row lock,
    the checker waits for it; once the payment commits, the order is no longer expired."""
    lotus_setting("WEB", PUBLISHES=False)  # the rows stay in the outbox: no Kafka in this test
    order = place(customer_id=7, product_id=1)
    backdate(order, minutes=5)
    paid, commit = threading.Event(), threading.Event()
    cancelled: list[Order] = []

    def pay():
        try:
            with UnitOfWork("orders") as uow:
                order_payment_taken(uow=uow, order_id=order.id, customer_id=7, amount=Decimal("300"))
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
def test_the_age_is_measured_by_the_database_clock_not_the_checkers(monkeypatch, place, status_of):
    order = place(customer_id=7, product_id=1)
    backdate(order, seconds=30)
    ahead = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(timezone, "now", lambda: ahead)  # the checker's machine runs two minutes fast
    assert orders_expire() == []
    assert status_of(order) == "ValidatingBilling"
    monkeypatch.undo()
    backdate(order, seconds=61)
    assert [o.id for o in orders_expire()] == [order.id]
    assert status_of(order) == "Cancelling"


@pytest.fixture
def cancelling_with_billing_overdue(place, cancel, reply):
    """``cancelling_with_billing_overdue()``: an order Cancelling, waiting for billing only."""

    def cancelling_with_billing_overdue() -> Order:
        order = place(customer_id=7, product_id=1)
        reply(PaymentTaken(order_id=order.id, customer_id=7, amount=Decimal("300")))
        cancel(order_id=order.id, customer_id=7)
        reply(StockReleased(order_id=order.id, quantity=1))  # stock confirmed; billing's answer is lost
        assert Order.objects.get(id=order.id).pending_compensations == ["billing"]
        return order

    return cancelling_with_billing_overdue


def escalated_gauge() -> dict[str, float]:
    family = next(f for f in OrdersByStateCollector().collect() if f.name == "lotus_orders_escalated")
    return {sample.labels["state"]: sample.value for sample in family.samples}


@all_databases
def test_a_cancellation_past_its_deadline_is_escalated_once_and_asks_again_for_what_is_pending(
    reply, status_of, cancelling_with_billing_overdue
):
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
    with UnitOfWork("orders") as uow:
        assert order_escalate(uow=uow, order_id=order.id) is None  # once
    assert len(_envelopes("RefundOrder")) == 2

    reply(PaymentRefunded(order_id=order.id, customer_id=7, amount=Decimal("300")))
    assert status_of(order) == "Cancelled"
    assert Order.objects.get(id=order.id).refunded == Decimal("300")
    assert escalated_gauge() == {"Cancelling": 0, "Cancelled": 1}


@all_databases
def test_escalation_can_be_turned_off(lotus_setting, cancelling_with_billing_overdue):
    lotus_setting("DEADLINES", CANCELLING=0)
    order = cancelling_with_billing_overdue()
    backdate(order, days=1)
    assert orders_expire() == []
    assert Order.objects.get(id=order.id).escalated_at is None
    assert len(_envelopes("RefundOrder")) == 1


@all_databases
def test_the_admin_lists_the_escalated_orders_still_cancelling(
    client, django_user_model, cancelling_with_billing_overdue
):
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
