"""A cancellation whose compensation is lost or dead-lettered: the order is escalated after
LOTUS_CANCELLING_TIMEOUT (asked again once, flagged for the operator), and a lost message or a
replayed dead letter finishes the saga, with the money refunded once.

The first tests carry messages with :class:`SagaHarness`; the last one sends the refund through
Kafka to a real billing consumer whose refund handler fails, so that it is dead-lettered, and
replays it with the real handlers."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from billing import handlers as billing_handlers
from billing.models import Account, LedgerEntry
from billing.services import account_deposit
from lotus.contracts import Envelope
from lotus.contracts.billing import ChargeOrder, RefundOrder
from lotus.contracts.orders import OrderCancelled
from lotus.messaging.consumer import Consumer
from lotus.messaging.dead_letters import replay
from lotus.messaging.models import DeadLetter, InboxMessage
from lotus.messaging.registry import Handlers, Outcome
from lotus.messaging.relay import Relay
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import Worker, published, wait_for
from orders import handlers as orders_handlers
from orders.models import Order
from orders.services import order_cancel, order_place, orders_expire
from tests.integration.books import assert_books_balance
from tests.integration.harness import SagaHarness, of_type

CUSTOMER = 41
PRICE = Decimal("300")


@pytest.fixture(autouse=True)
def deadlines(lotus_setting):
    lotus_setting("DEADLINES", CANCELLING=300)
    lotus_setting("WEB", PUBLISHES=False)  # the harness or the relay carries every message


def paid_and_cancelled(saga: SagaHarness, *, hold) -> Order:
    """An order paid by billing, cancelled while it waits for stock; ``hold`` keeps messages back."""
    with UnitOfWork("billing") as uow:
        account_deposit(uow=uow, customer_id=CUSTOMER, amount=Decimal("1000"))
    with UnitOfWork("orders") as uow:
        order = order_place(uow=uow, customer_id=CUSTOMER, product_id=1)
    saga.run(hold=of_type("ReserveStock"))
    with UnitOfWork("orders") as uow:
        order_cancel(uow=uow, order_id=order.id, customer_id=CUSTOMER)
    saga.run(hold=lambda envelope: envelope.type == "ReserveStock" or hold(envelope))
    return Order.objects.get(id=order.id)


def past_the_deadline(order: Order) -> None:
    Order.objects.filter(id=order.id).update(updated_at=timezone.now() - timedelta(seconds=301))


def refunds_of(order: Order) -> int:
    return LedgerEntry.objects.filter(order_id=order.id, kind="refund").count()


def assert_refunded_once(order: Order) -> None:
    account = Account.objects.get(customer_id=CUSTOMER)
    assert account.balance == Decimal("1000")
    assert LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] == account.balance
    assert refunds_of(order) == 1
    assert_books_balance()


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("lost", ["RefundOrder", "PaymentRefunded"])
def test_a_lost_compensation_completes_after_the_escalation_asks_again(lost):
    call_command("seed")
    saga = SagaHarness()
    order = paid_and_cancelled(saga, hold=of_type(lost))
    assert (order.status, order.pending_compensations) == ("Cancelling", ["billing"])
    saga.held = [envelope for envelope in saga.held if envelope.type != lost]  # the message is lost

    assert orders_expire() == []
    saga.run()
    assert Order.objects.get(id=order.id).escalated_at is None  # not yet due
    past_the_deadline(order)
    orders_expire()
    saga.run(hold=of_type("ReserveStock"))

    order = Order.objects.get(id=order.id)
    assert order.status == "Cancelled"
    assert order.escalated_at is not None
    assert order.refunded == PRICE
    assert [t.reason for t in order.transitions.all()][-2:] == [
        "escalated: billing not confirmed within 5 min; asked again",
        "compensations confirmed",
    ]
    assert len(published("orders", OrderCancelled)) == 1
    assert_refunded_once(order)


def refund_fails(message: RefundOrder, uow: UnitOfWork) -> None:
    raise RuntimeError("the payment provider rejects refunds today")


@pytest.mark.integration
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_dead_lettered_refund_is_escalated_and_its_replay_finishes_the_saga(kafka_namespace):
    call_command("seed")
    saga = SagaHarness()
    order = paid_and_cancelled(saga, hold=of_type("RefundOrder"))
    assert (order.status, order.pending_compensations) == ("Cancelling", ["billing"])
    refund = next(envelope for envelope in saga.held if envelope.type == "RefundOrder")

    # The refund goes through Kafka to a billing consumer whose refund handler always fails.
    relay_all("orders")
    broken = Handlers({ChargeOrder: billing_handlers.handle_charge_order, RefundOrder: refund_fails})
    with Worker(lambda stop: Consumer("billing", broken, stop=stop, max_attempts=2, backoff_seconds=0.01)):
        letter = wait_for(
            lambda: DeadLetter.objects.using("billing").filter(message_id=refund.id).first(),
            timeout=60,
            message="the refund dead-lettered",
        )
    assert "rejects refunds" in letter.error
    assert refunds_of(order) == 0

    # The order stays Cancelling; past its deadline it is escalated once and asked again.
    assert orders_expire() == []
    assert Order.objects.get(id=order.id).escalated_at is None
    past_the_deadline(order)
    orders_expire()
    orders_expire()
    order = Order.objects.get(id=order.id)
    assert order.status == "Cancelling"
    assert order.escalated_at is not None
    assert order.transitions.last().reason == "escalated: billing not confirmed within 5 min; asked again"
    assert published("orders", RefundOrder) == [RefundOrder(order_id=order.id, customer_id=CUSTOMER)] * 2

    # The operator replays the dead letter with the real handlers: billing refunds.
    assert replay(letter, service="billing", handlers=billing_handlers.REGISTRY) is Outcome.APPLIED
    assert refunds_of(order) == 1

    # Real consumers carry the confirmation to orders and the re-sent refund to billing.
    asked_again = [e for e in outbox_envelopes("orders", "RefundOrder") if e.id != refund.id]
    relay_all("billing")
    relay_all("orders")
    with (
        Worker(lambda stop: Consumer("billing", billing_handlers.REGISTRY, stop=stop), name="billing"),
        Worker(lambda stop: Consumer("orders", orders_handlers.REGISTRY, stop=stop), name="orders"),
    ):
        wait_for(lambda: Order.objects.get(id=order.id).status == "Cancelled", timeout=60, message="Cancelled")
        wait_for(
            lambda: InboxMessage.objects.using("billing").filter(message_id=asked_again[0].id).exists(),
            timeout=60,
            message="the refund asked again applied",
        )
        confirmations = lambda: outbox_envelopes("billing", "PaymentRefunded")  # noqa: E731
        wait_for(lambda: len(confirmations()) == 2, timeout=30, message="billing confirmed twice")
        wait_for(
            lambda: all(orders_applied(envelope.id) for envelope in confirmations()),
            timeout=60,
            message="orders received both confirmations",
        )

    order = Order.objects.get(id=order.id)
    assert order.status == "Cancelled"
    assert order.refunded == PRICE
    assert len(published("orders", OrderCancelled)) == 1
    letter.refresh_from_db(using="billing")
    assert letter.replayed_at is not None
    assert_refunded_once(order)


def relay_all(service: str) -> None:
    relay = Relay(service)
    while relay.publish_once():
        pass


def outbox_envelopes(service: str, message_type: str) -> list[Envelope]:
    from lotus.messaging.models import OutboxMessage
    from lotus.topology import alias_for

    rows = OutboxMessage.objects.using(alias_for(service)).filter(message_type=message_type).order_by("id")
    return [Envelope.from_bytes(body) for body in rows.values_list("body", flat=True)]


def orders_applied(message_id: uuid.UUID) -> bool:
    return InboxMessage.objects.using("orders").filter(message_id=message_id).exists()
