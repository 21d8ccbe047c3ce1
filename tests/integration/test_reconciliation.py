"""``manage.py reconcile`` on the real PostgreSQL: a clean saga run agrees everywhere, and each
invariant broken once by hand is named, with its order id where it has one. Messages are carried
by :class:`SagaHarness`; the same check runs after the end-to-end and chaos runs over Kafka."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from billing.models import Account, Charge
from delivery.models import SlotBooking
from lotus.messaging.models import InboxMessage, OutboxMessage
from lotus.testing import api_client
from orders.models import Order
from reconciliation.checks import Disagreement
from reconciliation.models import ReconciliationRun
from reconciliation.services import reconcile
from stock.models import StockItem
from tests.integration.harness import of_type

pytestmark = pytest.mark.django_db(databases="__all__")

CUSTOMER = 57
customer = api_client(CUSTOMER)
operator = api_client(1, is_staff=True)


def place(product, saga, **run) -> str:
    response = customer.post(f"/order/place?idSubscription={product}")
    assert response.status_code == 202, response.content
    saga.run(**run)
    return response.json()["orderId"]


@pytest.fixture
def sagas(saga):
    """Three orders delivered, one cancelled while waiting for its courier (refunded, released)."""
    assert customer.post("/billing/add-money?money=5000").status_code == 200
    saga.run()
    delivered = [place(1, saga) for _ in range(3)]
    operator.get("/stock/add?idSubscription=3&count=1")
    cancelled = place(3, saga)
    assert customer.post(f"/order/{cancelled}/cancel").status_code == 202
    saga.run()
    statuses = {str(i): status for i, status in Order.objects.values_list("id", "status")}
    assert [statuses[i] for i in delivered] == ["NotifyingSourceSystem"] * 3
    assert statuses[cancelled] == "Cancelled"
    return delivered, cancelled


def named(found: list[Disagreement], kind: str, order_id: str | None = None) -> list[Disagreement]:
    return [d for d in found if d.kind == kind and (order_id is None or d.order_id == order_id)]


def test_a_clean_saga_run_has_no_disagreement(sagas):
    report = reconcile(grace=0)
    assert report.disagreements == []
    assert report.judged["settled_orders"] == 4
    assert report.judged["outbox_rows"] > 0


def test_a_charge_marked_paid_for_a_cancelled_order(sagas):
    _, cancelled = sagas
    Charge.objects.filter(order_id=cancelled).update(status=Charge.Status.PAID)
    found = reconcile(grace=0).disagreements
    assert named(found, "charge", cancelled), found
    assert "Cancelled" in named(found, "charge", cancelled)[0].message


def test_a_stock_counter_off_by_one(sagas):
    StockItem.objects.filter(product_id=1).update(reserved=F("reserved") + 1, received=F("received") + 1)
    found = reconcile(grace=0).disagreements
    assert [d.row for d in named(found, "stock_counter")] == ["product 1"], found
    assert "4 reserved, reservations hold 3" in found[0].message


def test_a_slot_counter_off_by_one(sagas):
    booking = SlotBooking.objects.filter(booked__gt=0).first()
    SlotBooking.objects.filter(pk=booking.pk).update(booked=F("booked") - 1)
    found = named(reconcile(grace=0).disagreements, "slot_counter")
    assert len(found) == 1, found
    assert f"courier {booking.courier_id}" in found[0].row


def test_a_ledger_that_does_not_sum_to_its_balance(sagas):
    Account.objects.filter(customer_id=CUSTOMER).update(balance=F("balance") + 1)
    found = reconcile(grace=0).disagreements
    assert [d.row for d in named(found, "ledger")] == [f"account of customer {CUSTOMER}"], found


def test_an_unapplied_message(sagas):
    delivered, _ = sagas
    row = OutboxMessage.objects.using("orders").get(key=delivered[0], message_type="OrderInDelivery")
    InboxMessage.objects.using("notifications").filter(message_id=row.message_id).delete()
    found = reconcile(grace=0).disagreements
    assert [(d.kind, d.order_id) for d in found] == [("unapplied_message", delivered[0])], found
    assert "OrderInDelivery" in found[0].message
    assert "notifications" in found[0].message
    assert found[0].row == f"orders outbox row {row.pk}"


def test_an_order_past_its_deadline(saga, lotus_setting):
    lotus_setting("DEADLINES", PAYMENT=60)
    waiting = place(1, saga)  # no money: it waits for a top-up
    assert reconcile(grace=0).disagreements == []
    Order.objects.filter(id=waiting).update(updated_at=timezone.now() - timedelta(minutes=10))
    found = reconcile(grace=0).disagreements
    assert [(d.kind, d.order_id) for d in found] == [("overdue", waiting)], found


def test_a_message_in_flight_is_not_a_disagreement(saga):
    assert customer.post("/billing/add-money?money=1000").status_code == 200
    saga.run()
    order_id = place(1, saga, hold=of_type("PaymentTaken"))
    # Billing took the money; orders has not heard yet: ValidatingBilling with a paid charge.
    assert Order.objects.get(id=order_id).status == "ValidatingBilling"
    assert reconcile(grace=60).disagreements == []
    found = reconcile(grace=0).disagreements
    assert {d.kind for d in found} == {"unapplied_message"}, "the order itself is not judged while in flight"
    saga.release()
    assert reconcile(grace=0).disagreements == []


def test_the_command_reports_stores_and_exits_1(sagas, capsys):
    _, cancelled = sagas
    call_command("reconcile", "--grace", "0")
    assert "reconcile: 0 disagreement(s)" in capsys.readouterr().out
    Charge.objects.filter(order_id=cancelled).update(status=Charge.Status.PAID)
    with pytest.raises(SystemExit) as exit:
        call_command("reconcile", "--grace", "0", "--json")
    assert exit.value.code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["charge"] == 1
    assert any(d["order_id"] == cancelled for d in report["disagreements"])
    last = ReconciliationRun.objects.using("default").order_by("-id").first()
    assert last.counts["charge"] == 1
    assert ReconciliationRun.objects.count() == 2
    with pytest.raises(SystemExit):
        call_command("reconcile", "--grace", "0", "--no-record")
    assert ReconciliationRun.objects.count() == 2
