"""The saga trail and the stuck list, on the real databases: sagas run by the deterministic
harness (every service's real handlers, inboxes and outboxes; see tests/integration/harness.py)."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from billing.models import Charge
from lotus.messaging.models import DeadLetter, InboxMessage, OutboxMessage
from lotus.testing import api_client
from lotus.topology import alias_for
from orders.models import Order
from sagas import selectors
from stock.models import StockItem
from tests.integration.harness import of_type

pytestmark = pytest.mark.django_db(databases="__all__")

CUSTOMER = 57
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def place(saga, product: int, *, money: int | None = 1000, customer_id: int = CUSTOMER, **run) -> str:
    customer = api_client(customer_id)
    if money:
        assert customer.post(f"/billing/add-money?money={money}").status_code == 200
    response = customer.post(f"/order/place?idSubscription={product}")
    assert response.status_code == 202, response.content
    saga.run(**run)
    return response.json()["orderId"]


def test_a_completed_saga_shows_each_transition_with_its_cause_and_what_it_emitted(saga):
    order_id = place(saga, 1)
    trail = selectors.saga_trail(order_id=order_id)

    assert trail.order.status == Order.Status.NOTIFYING_SOURCE_SYSTEM
    assert [step.transition.target for step in trail.steps] == [
        "ValidatingBilling", "ValidatingStock", "ValidatingDelivery", "NotifyingSourceSystem",
    ]  # fmt: skip
    placed, paid, reserved, in_delivery = trail.steps
    assert placed.kind == "request"
    assert placed.cause is None
    assert {m.type for m in placed.emitted} == {"OrderPlaced", "ChargeOrder"}
    causes = [(s.transition.message_type, s.transition.message_source) for s in (paid, reserved, in_delivery)]
    assert causes == [("PaymentTaken", "billing"), ("StockReserved", "stock"), ("CourierReserved", "delivery")]
    for step in (paid, reserved, in_delivery):
        assert step.kind == "message"
        assert step.cause is not None
        assert step.cause.id == step.transition.message_id
        assert step.cause.service == step.transition.message_source
        assert step.applied_at is not None  # orders' inbox row of the cause
    assert {m.type for m in paid.emitted} == {"OrderPaid", "ReserveStock"}
    reserve_stock = next(m for m in paid.emitted if m.type == "ReserveStock")
    assert [applied.service for applied in reserve_stock.applied] == ["stock"]
    assert {m.type for m in reserved.emitted} == {"OrderReserved", "ReserveCourier"}
    assert {m.type for m in in_delivery.emitted} == {"OrderInDelivery"}

    related = {row.what: row for row in trail.related}
    assert related["charge"].text.endswith("paid")
    assert related["charge"].url.startswith("/admin/billing/charge/")
    assert related["reservation"].text.endswith("reserved")
    assert related["reservation"].url.startswith("/admin/stock/reservation/")
    assert related["delivery request"].text.startswith("reserved")
    assert "slot booking" in related
    assert "ledger entry" in related
    assert trail.compensations == []
    assert trail.dead_letters == []
    assert {n.event for n in trail.notifications} >= {"order_paid", "order_reserved", "order_in_delivery"}
    assert not trail.can_cancel
    assert trail.waits == ""
    assert not trail.delivery_waits_for_operator
    # Every message of the saga, from every service's outbox, in one list.
    assert {m.service for m in trail.messages} == {"orders", "billing", "stock", "delivery"}


def test_waits_in_the_outbox_and_in_kafka_come_from_the_rows_timestamps(saga):
    order_id = place(saga, 1)
    trail = selectors.saga_trail(order_id=order_id)
    paid = trail.steps[1]
    row = OutboxMessage.objects.using(alias_for("billing")).get(message_id=paid.transition.message_id)
    # The harness carries messages by hand: stamp the row as the relay would have.
    sent_at = row.created_at + timedelta(milliseconds=40)
    OutboxMessage.objects.using(alias_for("billing")).filter(pk=row.pk).update(sent_at=sent_at)
    applied_at = sent_at + timedelta(milliseconds=250)
    InboxMessage.objects.using(alias_for("orders")).filter(message_id=row.message_id).update(processed_at=applied_at)

    paid = selectors.saga_trail(order_id=order_id).steps[1]
    assert paid.waited_in_outbox == paid.cause.waited_in_outbox == timedelta(milliseconds=40)
    assert paid.waited_in_kafka == paid.cause.waited_in_kafka == timedelta(milliseconds=250)
    assert paid.written_to_applied == paid.cause.written_to_applied == timedelta(milliseconds=290)

    # A consumer marks its rows sent with its next batch: a mark after the receiver applied the
    # message splits nothing, and the whole hop is what is shown.
    late_mark = applied_at + timedelta(milliseconds=100)
    OutboxMessage.objects.using(alias_for("billing")).filter(pk=row.pk).update(sent_at=late_mark)
    paid = selectors.saga_trail(order_id=order_id).steps[1]
    assert paid.waited_in_outbox is None
    assert paid.waited_in_kafka is None
    assert paid.written_to_applied == timedelta(milliseconds=290)


def test_a_saga_waiting_for_stock_is_in_the_stuck_list_with_its_reason(saga):
    order_id = place(saga, 2)  # product 2 has nothing on hand
    trail = selectors.saga_trail(order_id=order_id)
    assert trail.order.status == Order.Status.VALIDATING_STOCK
    assert trail.waits == "waiting for stock: product 2 has 0 on hand"
    assert {row.what: row.text for row in trail.related}["reservation"].endswith("waiting")
    assert trail.can_cancel

    assert _stuck(older_than=3600) == {}  # it has not waited an hour
    Order.objects.filter(id=order_id).update(updated_at=F("updated_at") - timedelta(hours=2))
    stuck = _stuck(older_than=3600)
    assert list(stuck) == ["ValidatingStock"]
    assert stuck["ValidatingStock"][order_id] == "waiting for stock: product 2 has 0 on hand"


def test_the_stuck_list_says_why_each_state_waits(saga):
    waiting_for_money = place(saga, 2, money=None, customer_id=CUSTOMER + 1)
    manual = _manual_delivery_order(saga)
    cancelling = place(saga, 2, customer_id=CUSTOMER + 2)
    assert api_client(CUSTOMER + 2).post(f"/order/{cancelling}/cancel").status_code == 202
    saga.run(hold=of_type("StockReleased"))
    Order.objects.update(updated_at=timezone.now() - timedelta(hours=1))

    stuck = _stuck(older_than=60)
    assert "waiting for a top-up" in stuck["ValidatingBilling"][waiting_for_money]
    assert stuck["ValidatingDelivery"][manual] == "waiting for an operator to accept the delivery (manual delivery)"
    assert stuck["Cancelling"][cancelling] == "waiting for stock to confirm the compensation"


def test_a_cancelled_saga_shows_its_compensations(saga):
    order_id = place(saga, 2)  # waits for stock: the charge is paid, the reservation waits
    response = api_client(CUSTOMER).post(f"/order/{order_id}/cancel")
    assert response.status_code == 202, response.content
    saga.run()
    trail = selectors.saga_trail(order_id=order_id)

    assert trail.order.status == Order.Status.CANCELLED
    targets = [step.transition.target for step in trail.steps]
    assert targets[-2:] == ["Cancelling", "Cancelled"]
    cancelling, cancelled = trail.steps[-2:]
    assert cancelling.kind == "request"
    assert {m.type for m in cancelling.emitted} == {"RefundOrder", "ReleaseStock"}
    assert cancelled.transition.message_type in ("PaymentRefunded", "StockReleased")
    compensations = {c.service: c for c in trail.compensations}
    assert list(compensations) == ["billing", "stock"]
    assert all(c.confirmed for c in compensations.values())
    assert "refunded" in compensations["billing"].state
    assert "refund 700.00" in compensations["billing"].state
    assert compensations["stock"].state.endswith(("withdrawn", "released"))
    assert Charge.objects.get(order_id=order_id).status == Charge.Status.REFUNDED


def test_dead_letters_and_the_trace_id_of_the_saga(saga, lotus_setting):
    order_id = place(saga, 1)
    DeadLetter.objects.using(alias_for("stock")).create(
        message_type="ReserveStock", topic="stock.commands", key=order_id, body="{}", error="boom"
    )
    DeadLetter.objects.using(alias_for("delivery")).create(
        topic="delivery.commands", body=f"...{order_id}...", error="x"
    )
    DeadLetter.objects.using(alias_for("billing")).create(topic="billing.commands", key="another", body="{}", error="y")
    row = OutboxMessage.objects.using(alias_for("orders")).filter(key=order_id).first()
    body = row.body[:-1] + f', "traceparent": "00-{TRACE}-00f067aa0ba902b7-01"}}'
    OutboxMessage.objects.using(alias_for("orders")).filter(pk=row.pk).update(body=body)

    trail = selectors.saga_trail(order_id=order_id)
    assert [(letter.service, letter.letter.error) for letter in trail.dead_letters] == [
        ("stock", "boom"), ("delivery", "x"),
    ]  # fmt: skip
    assert trail.traces == [(TRACE, "")]
    lotus_setting("ADMIN", TRACE_VIEWER_URL="http://127.0.0.1:16686/trace/{trace_id}")
    assert selectors.saga_trail(order_id=order_id).traces == [(TRACE, f"http://127.0.0.1:16686/trace/{TRACE}")]


def test_an_unknown_order_has_no_trail(db):
    assert selectors.saga_trail(order_id="00000000-0000-4000-8000-000000000000") is None


@pytest.mark.parametrize(
    ("value", "trace_id"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01", TRACE),
        (f"00-{TRACE.upper()}-00f067aa0ba902b7-00", TRACE),
        (f"01-{TRACE}-00f067aa0ba902b7-01", None),
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None),
        ("garbage", None),
        (None, None),
        (42, None),
    ],
)
def test_trace_ids_are_read_from_w3c_traceparent_only(value, trace_id):
    assert selectors.trace_id_of(value) == trace_id


def _manual_delivery_order(saga) -> str:
    StockItem.objects.filter(product_id=3).update(on_hand=5, received=5)
    return place(saga, 3, money=2000)


def _stuck(*, older_than: float) -> dict[str, dict[str, str]]:
    return {
        group.state: {str(stuck.order.id): stuck.reason for stuck in group.orders}
        for group in selectors.stuck_sagas(older_than=older_than)
        if group.orders
    }
