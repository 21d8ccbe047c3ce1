"""The saga's steps on a fake unit of work (no database): what each reply sends, which history
it adds, and that a reply the state does not allow changes nothing."""

import itertools
import uuid
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY as METRICS

from lotus.contracts import Envelope
from lotus.contracts.billing import ChargeOrder, PaymentFailed, PaymentRefunded, PaymentTaken, RefundOrder
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved, ReleaseCourier, ReserveCourier
from lotus.contracts.orders import (
    OrderCancelled,
    OrderInDelivery,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    OrderReserved,
)
from lotus.contracts.stock import ReleaseStock, ReserveStock, StockBackordered, StockReleased, StockReserved
from lotus.errors import Conflict, LotusError, NotFound
from lotus.messaging.registry import MessageRejected, Outcome
from lotus.testing import FakeUnitOfWork
from orders import services
from orders.handlers import REGISTRY
from orders.models import Order, OrderTransition, Product

CUSTOMER = 7


def an_order(status: str = "ValidatingBilling", **fields) -> Order:
    return Order(customer_id=CUSTOMER, product_id=1, price=Decimal("300"), status=status, **fields)


def handle(message, uow: FakeUnitOfWork) -> Outcome:
    envelope = Envelope.wrap(message, source="test", correlation_id=str(message.order_id))
    return REGISTRY.handle(envelope, uow)


def history(uow: FakeUnitOfWork) -> list[tuple[str, str, str]]:
    return [(row.source, row.target, row.reason) for row in uow.added if isinstance(row, OrderTransition)]


def test_placing_adds_the_order_and_its_first_step_and_sends_the_placed_event_and_the_charge():
    uow = FakeUnitOfWork(
        "orders", rows=[Product(id=3, name="Subscription 3", price=Decimal("1200"), manual_delivery=True)]
    )
    order = services.order_place(uow=uow, customer_id=CUSTOMER, product_id=3)
    assert (order.status, order.price, order.manual_delivery) == ("ValidatingBilling", Decimal("1200"), True)
    assert uow.added[0] is order
    assert history(uow) == [("", "ValidatingBilling", "placed")]
    assert uow.sent == [
        OrderPlaced(order_id=order.id, customer_id=CUSTOMER, product_id=3, price=Decimal("1200")),
        ChargeOrder(order_id=order.id, customer_id=CUSTOMER, amount=Decimal("1200")),
    ]


def test_placing_an_unknown_product_is_refused_and_writes_nothing():
    uow = FakeUnitOfWork("orders")
    with pytest.raises(LotusError, match="Unknown product"):
        services.order_place(uow=uow, customer_id=CUSTOMER, product_id=42)
    assert uow.added == uow.sent == []


@pytest.mark.parametrize(
    ("status", "reply", "after", "reason", "sent"),
    [
        (
            "ValidatingBilling",
            PaymentTaken(order_id=uuid.UUID(int=1), customer_id=CUSTOMER, amount=Decimal("300")),
            "ValidatingStock",
            "payment taken",
            [
                OrderPaid(order_id=uuid.UUID(int=1), customer_id=CUSTOMER, amount=Decimal("300")),
                ReserveStock(order_id=uuid.UUID(int=1), product_id=1),
            ],
        ),
        (
            "ValidatingStock",
            StockReserved(order_id=uuid.UUID(int=1), product_id=1, quantity=1),
            "ValidatingDelivery",
            "item reserved",
            [
                OrderReserved(order_id=uuid.UUID(int=1), customer_id=CUSTOMER),
                ReserveCourier(order_id=uuid.UUID(int=1), product_id=1, manual=False),
            ],
        ),
        (
            "ValidatingDelivery",
            CourierReserved(order_id=uuid.UUID(int=1), courier_id=1, slot="2030-01-01T10:00:00Z"),
            "NotifyingSourceSystem",
            "courier reserved",
            [OrderInDelivery(order_id=uuid.UUID(int=1), customer_id=CUSTOMER)],
        ),
    ],
)
def test_each_reply_moves_the_order_one_step_records_it_and_sends_the_next_command(status, reply, after, reason, sent):
    order = an_order(status, id=uuid.UUID(int=1))
    uow = FakeUnitOfWork("orders", rows=[order])
    assert handle(reply, uow) is Outcome.APPLIED
    assert order.status == after
    assert [fields for row, fields in uow.updated if row is order] == [
        ["status", "updated_at", "pending_compensations", "refunded", "cancel_reason"]
    ]
    assert history(uow) == [(status, after, reason)]
    assert uow.sent == sent


ORDER = uuid.UUID(int=1)


def a_cancelled_order(status: str, *, cancelled_in: str, pending: list[str]) -> tuple[Order, list]:
    """An order cancelled in ``cancelled_in``, with the history a real one has."""
    order = an_order(status, id=ORDER, pending_compensations=pending)
    path = ["ValidatingBilling", "ValidatingStock", "ValidatingDelivery"]
    steps = ["", *path[: path.index(cancelled_in) + 1], "Cancelling"]
    if status == "Cancelled":
        steps.append("Cancelled")
    history = [OrderTransition(order=order, source=a, target=b) for a, b in itertools.pairwise(steps)]
    return order, history


@pytest.mark.parametrize(
    ("status", "reply"),
    [
        ("ValidatingStock", PaymentTaken(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal("300"))),
        (
            "ValidatingStock",
            PaymentFailed(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal("300"), shortfall=Decimal(1)),
        ),
        ("ValidatingDelivery", StockReserved(order_id=ORDER, product_id=1, quantity=1)),
        ("NotifyingSourceSystem", CourierReserved(order_id=ORDER, courier_id=1, slot="2030-01-01T10:00:00Z")),
    ],
)
def test_a_reply_the_state_does_not_allow_changes_and_sends_nothing(status, reply):
    """Asked for once, but not waited for any more (a second reply, or a late one): ignored."""
    order = an_order(status, id=ORDER)
    uow = FakeUnitOfWork("orders", rows=[order])
    assert handle(reply, uow) is Outcome.APPLIED
    assert order.status == status
    assert uow.updated == uow.added == uow.sent == []


@pytest.mark.parametrize(
    ("cancelled_in", "status", "reply"),
    [
        ("ValidatingBilling", "Cancelling", PaymentTaken(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal("300"))),
        ("ValidatingStock", "Cancelled", StockReserved(order_id=ORDER, product_id=1, quantity=1)),
        ("ValidatingStock", "Cancelled", StockReleased(order_id=ORDER, quantity=1)),
        (
            "ValidatingDelivery",
            "Cancelling",
            CourierReserved(order_id=ORDER, courier_id=1, slot="2030-01-01T10:00:00Z"),
        ),
        ("ValidatingDelivery", "Cancelled", CourierReleased(order_id=ORDER)),
        (
            "ValidatingDelivery",
            "Cancelled",
            PaymentRefunded(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal("300")),
        ),
    ],
)
def test_a_reply_asked_for_before_the_cancel_that_arrives_after_it_is_ignored(cancelled_in, status, reply):
    pending = ["billing"] if status == "Cancelling" else []
    order, history = a_cancelled_order(status, cancelled_in=cancelled_in, pending=pending)
    uow = FakeUnitOfWork("orders", rows=[order, *history])
    assert handle(reply, uow) is Outcome.APPLIED
    assert (order.status, order.pending_compensations) == (status, pending)
    assert uow.updated == uow.added == uow.sent == []


@pytest.mark.parametrize(
    ("status", "reply", "why"),
    [
        # The saga never reached the step whose command these answer.
        ("ValidatingStock", CourierReserved(order_id=ORDER, courier_id=1, slot="2030-01-01T10:00:00Z"), "never asked"),
        ("ValidatingStock", CourierPending(order_id=ORDER, reason="x"), "never asked"),
        ("ValidatingBilling", StockReserved(order_id=ORDER, product_id=1, quantity=1), "never asked"),
        ("ValidatingBilling", StockBackordered(order_id=ORDER, product_id=1), "never asked"),
        # Compensations of an order that was never cancelled.
        ("ValidatingStock", StockReleased(order_id=ORDER, quantity=1), "never asked"),
        ("NotifyingSourceSystem", CourierReleased(order_id=ORDER), "never asked"),
        (
            "NotifyingSourceSystem",
            PaymentRefunded(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal("300")),
            "never asked",
        ),
        # What the reply claims is not the order's.
        (
            "ValidatingBilling",
            PaymentTaken(order_id=ORDER, customer_id=CUSTOMER + 1, amount=Decimal("300")),
            "customer_id",
        ),
        ("ValidatingBilling", PaymentTaken(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal("3")), "price"),
        (
            "ValidatingStock",
            PaymentTaken(order_id=ORDER, customer_id=CUSTOMER + 1, amount=Decimal("300")),
            "customer_id",
        ),
        (
            "ValidatingBilling",
            PaymentFailed(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal(1), shortfall=Decimal(1)),
            "price",
        ),
        ("ValidatingStock", StockReserved(order_id=ORDER, product_id=2, quantity=1), "product_id"),
        ("ValidatingStock", StockReserved(order_id=ORDER, product_id=1, quantity=5), "reserves 5 items"),
        ("ValidatingStock", StockBackordered(order_id=ORDER, product_id=2), "product_id"),
    ],
)
def test_a_reply_the_order_never_asked_for_or_that_does_not_match_it_is_rejected(status, reply, why):
    order = an_order(status, id=ORDER)
    uow = FakeUnitOfWork("orders", rows=[order])
    with pytest.raises(MessageRejected, match=why):
        handle(reply, uow)
    assert order.status == status
    assert uow.updated == uow.added == uow.sent == []


@pytest.mark.parametrize(
    ("cancelled_in", "reply", "why"),
    [
        ("ValidatingBilling", StockReleased(order_id=ORDER, quantity=1), "never asked"),
        ("ValidatingBilling", StockReserved(order_id=ORDER, product_id=1, quantity=1), "never asked"),
        ("ValidatingStock", CourierReleased(order_id=ORDER), "never asked"),
        ("ValidatingStock", StockReleased(order_id=ORDER, quantity=2), "releases 2 items"),
        (
            "ValidatingStock",
            PaymentRefunded(order_id=ORDER, customer_id=CUSTOMER + 1, amount=Decimal("300")),
            "customer_id",
        ),
        (
            "ValidatingStock",
            PaymentRefunded(order_id=ORDER, customer_id=CUSTOMER, amount=Decimal("300.01")),
            "more than its price",
        ),
    ],
)
def test_a_compensation_the_cancel_never_asked_for_or_that_does_not_match_is_rejected(cancelled_in, reply, why):
    pending = ["billing", "stock", "delivery"][: ["ValidatingBilling", "ValidatingStock"].index(cancelled_in) + 1]
    order, history = a_cancelled_order("Cancelling", cancelled_in=cancelled_in, pending=pending)
    uow = FakeUnitOfWork("orders", rows=[order, *history])
    with pytest.raises(MessageRejected, match=why):
        handle(reply, uow)
    assert (order.status, order.pending_compensations, order.refunded) == ("Cancelling", pending, 0)
    assert uow.updated == uow.added == uow.sent == []


def test_a_reply_for_an_unknown_order_is_rejected_and_changes_and_sends_nothing():
    uow = FakeUnitOfWork("orders")
    with pytest.raises(MessageRejected, match="does not know"):
        handle(PaymentTaken(order_id=uuid.uuid4(), customer_id=CUSTOMER, amount=Decimal("1")), uow)
    assert uow.updated == uow.added == uow.sent == []


@pytest.mark.parametrize(
    ("status", "reply"),
    [
        ("ValidatingStock", StockBackordered(order_id=ORDER, product_id=1)),
        ("ValidatingDelivery", CourierPending(order_id=ORDER, reason="x")),
    ],
)
def test_a_step_that_must_wait_writes_nothing(status, reply):
    order = an_order(status, id=ORDER)
    uow = FakeUnitOfWork("orders", rows=[order])
    assert handle(reply, uow) is Outcome.APPLIED
    assert uow.updated == uow.added == uow.sent == []


def test_a_failed_payment_tells_the_shortfall_and_the_order_keeps_waiting():
    order = an_order(id=uuid.UUID(int=1))
    uow = FakeUnitOfWork("orders", rows=[order])
    handle(PaymentFailed(order_id=order.id, customer_id=CUSTOMER, amount=Decimal("300"), shortfall=Decimal("50")), uow)
    assert order.status == "ValidatingBilling"
    assert uow.added == []
    assert uow.sent == [OrderPaymentFailed(order_id=order.id, customer_id=CUSTOMER, shortfall=Decimal("50"))]


@pytest.mark.parametrize(
    ("status", "compensations"),
    [
        ("ValidatingBilling", [RefundOrder]),
        ("ValidatingStock", [RefundOrder, ReleaseStock]),
        ("ValidatingDelivery", [RefundOrder, ReleaseStock, ReleaseCourier]),
    ],
)
def test_a_cancel_asks_to_compensate_exactly_the_steps_taken(status, compensations):
    order = an_order(status)
    uow = FakeUnitOfWork("orders", rows=[order])
    services.order_cancel(uow=uow, order_id=order.id, customer_id=CUSTOMER)
    assert order.status == "Cancelling"
    assert history(uow) == [(status, "Cancelling", "cancelled by the customer")]
    assert [type(message) for message in uow.sent] == compensations
    assert all(message.order_id == order.id for message in uow.sent)


def test_a_cancel_of_someone_elses_order_is_not_found_and_of_a_finished_one_a_conflict():
    mine, done = an_order(), an_order("NotifyingSourceSystem")
    uow = FakeUnitOfWork("orders", rows=[mine, done])
    with pytest.raises(NotFound):
        services.order_cancel(uow=uow, order_id=mine.id, customer_id=CUSTOMER + 1)
    with pytest.raises(Conflict):
        services.order_cancel(uow=uow, order_id=done.id, customer_id=CUSTOMER)
    assert uow.updated == uow.added == uow.sent == []


def test_compensations_are_counted_off_and_the_last_one_cancels_with_the_refund():
    order = an_order("Cancelling", id=uuid.UUID(int=1), pending_compensations=["billing", "stock", "delivery"])
    order.cancel_reason = "cancelled by the customer"
    uow = FakeUnitOfWork("orders", rows=[order])
    handle(StockReleased(order_id=order.id, quantity=1), uow)
    handle(PaymentRefunded(order_id=order.id, customer_id=CUSTOMER, amount=Decimal("300")), uow)
    assert order.pending_compensations == ["delivery"]
    assert uow.sent == []
    assert history(uow) == []

    handle(CourierReleased(order_id=order.id), uow)
    assert order.status == "Cancelled"
    assert history(uow) == [("Cancelling", "Cancelled", "compensations confirmed")]
    assert uow.sent == [
        OrderCancelled(
            order_id=order.id, customer_id=CUSTOMER, refunded=Decimal("300"), reason="cancelled by the customer"
        )
    ]


@pytest.mark.parametrize(
    ("status", "reply", "outcome"),
    [
        (
            "ValidatingDelivery",
            CourierReserved(order_id=uuid.UUID(int=1), courier_id=1, slot="2030-01-01T10:00:00Z"),
            "completed",
        ),
        ("Cancelling", CourierReleased(order_id=uuid.UUID(int=1)), "cancelled"),
    ],
)
def test_the_saga_time_is_observed_once_when_the_order_reaches_a_final_state(status, reply, outcome):
    order = an_order(status, id=uuid.UUID(int=1), pending_compensations=["delivery"])
    asked = OrderTransition(order=order, source="ValidatingStock", target="ValidatingDelivery")
    uow = FakeUnitOfWork("orders", rows=[order, asked])

    def observed() -> float:
        return METRICS.get_sample_value("lotus_saga_duration_seconds_count", {"outcome": outcome}) or 0

    before = observed()
    handle(reply, uow)
    handle(reply, uow)  # a second reply is not allowed any more: not observed again
    assert observed() == before + 1
