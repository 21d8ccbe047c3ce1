"""Messages checked like requests, through Kafka: a message written straight to the broker (as
anything that reaches it could) that contradicts the receiving service's data is dead-lettered
at once by the real consumer with the real handlers, and nothing moves; the legitimate messages
around it are applied as usual.

A forged ``RefundOrder`` naming another customer than the one who paid the charge would credit
that customer with the payer's money; billing refuses it (issue 14, item 6)."""

import uuid
from decimal import Decimal

import pytest
from confluent_kafka import Producer
from django.conf import settings

from billing import handlers as billing_handlers
from billing.models import Account, Charge, LedgerEntry
from billing.services import account_deposit, charge_order
from lotus.contracts import Envelope, Message
from lotus.contracts.billing import PaymentRefunded, PaymentTaken, RefundOrder
from lotus.contracts.stock import StockReserved
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import physical_topic
from lotus.messaging.models import DeadLetter, InboxMessage
from lotus.messaging.registry import Outcome
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import Worker, published, wait_for
from orders import handlers as orders_handlers
from orders.models import Order
from orders.services import order_place
from tests.integration.books import assert_books_balance

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]

PAYER, OTHER = 51, 52


def produce(*messages: Message) -> list[Envelope]:
    """Write messages to their topics directly, keyed by their order, as a producer with access to
    the broker could (no outbox, no service behind them)."""
    producer = Producer({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    envelopes = []
    for message in messages:
        envelope = Envelope.wrap(message, source="forger", correlation_id=message.key())
        producer.produce(physical_topic(message.topic), key=envelope.correlation_id, value=envelope.to_json())
        envelopes.append(envelope)
    assert producer.flush(10) == 0
    return envelopes


def balances() -> dict[int, Decimal]:
    return dict(Account.objects.using("billing").values_list("customer_id", "balance"))


def applied(service: str, envelope: Envelope) -> bool:
    return InboxMessage.objects.using(service).filter(message_id=envelope.id).exists()


def dead_letter(service: str, envelope: Envelope) -> DeadLetter | None:
    return DeadLetter.objects.using(service).filter(message_id=envelope.id).first()


def test_a_forged_refund_of_another_accounts_charge_is_dead_lettered_and_every_balance_is_unchanged(
    kafka_namespace,
):
    order = uuid.uuid4()
    with UnitOfWork("billing", publisher=None) as uow:
        account_deposit(uow=uow, customer_id=PAYER, amount=Decimal("1000"))
        account_deposit(uow=uow, customer_id=OTHER, amount=Decimal("5"))
    with UnitOfWork("billing", publisher=None) as uow:
        assert charge_order(uow=uow, order_id=order, customer_id=PAYER, amount=Decimal("300")).status == "paid"
    before = balances()
    assert before == {PAYER: Decimal("700"), OTHER: Decimal("5")}

    forged, unknown_customer, legitimate = produce(
        RefundOrder(order_id=order, customer_id=OTHER),
        RefundOrder(order_id=order, customer_id=999),  # a customer billing has never seen
        RefundOrder(order_id=order, customer_id=PAYER),  # the saga's own, after them: applied
    )
    with Worker(lambda stop: Consumer("billing", billing_handlers.REGISTRY, stop=stop)) as consumer:
        wait_for(lambda: applied("billing", legitimate), timeout=60, message="the legitimate refund applied")

    for envelope, customer in ((forged, OTHER), (unknown_customer, 999)):
        letter = dead_letter("billing", envelope)
        assert letter is not None, "the forged refund was not dead-lettered"
        assert letter.attempts == 1
        assert letter.error == (
            f"MessageRejected: RefundOrder for order {order} names customer {customer}, "
            "whose account did not make the order's charge"
        )
        assert not applied("billing", envelope)
    assert consumer.counts[Outcome.DEAD_LETTERED] == 2

    # Only the legitimate refund moved money: back to the payer, once, with what was charged.
    assert balances() == {PAYER: Decimal("1000"), OTHER: Decimal("5")}
    assert not Account.objects.using("billing").filter(customer_id=999).exists()
    assert Charge.objects.using("billing").get(order_id=order).status == "refunded"
    refunds = LedgerEntry.objects.using("billing").filter(order_id=order, kind="refund")
    assert [(entry.account.customer_id, entry.amount) for entry in refunds] == [(PAYER, Decimal("300"))]
    assert published("billing", PaymentRefunded) == [
        PaymentRefunded(order_id=order, customer_id=PAYER, amount=Decimal("300"))
    ]
    assert_books_balance()


def test_forged_replies_to_orders_are_dead_lettered_and_the_order_does_not_move(kafka_namespace):
    from django.core.management import call_command

    call_command("seed")
    with UnitOfWork("orders", publisher=None) as uow:
        order = order_place(uow=uow, customer_id=PAYER, product_id=1)
    with Worker(lambda stop: Consumer("orders", orders_handlers.REGISTRY, stop=stop)):
        # The forgeries first, each dead-lettered, before the legitimate reply: the stock and
        # billing replies travel on different topics, and a StockReserved read after the real
        # PaymentTaken would answer a question the order had asked by then.
        forged = produce(
            PaymentTaken(order_id=order.id, customer_id=OTHER, amount=Decimal("300")),  # another customer
            PaymentTaken(order_id=order.id, customer_id=PAYER, amount=Decimal("0.01")),  # another amount
            StockReserved(order_id=order.id, product_id=1, quantity=1),  # stock was never asked
            PaymentTaken(order_id=uuid.uuid4(), customer_id=PAYER, amount=Decimal("300")),  # no such order
        )
        wait_for(
            lambda: all(dead_letter("orders", envelope) for envelope in forged),
            timeout=60,
            message="every forged reply dead-lettered",
        )
        (legitimate,) = produce(PaymentTaken(order_id=order.id, customer_id=PAYER, amount=Decimal("300")))
        wait_for(lambda: applied("orders", legitimate), timeout=60, message="the legitimate reply applied")

    reasons = [dead_letter("orders", envelope).error for envelope in forged]
    assert all(reason.startswith("MessageRejected: ") for reason in reasons), reasons
    assert "customer_id 52" in reasons[0]
    assert "price 0.01" in reasons[1]
    assert "never asked for it" in reasons[2]
    assert "which orders does not know" in reasons[3]
    assert not any(applied("orders", envelope) for envelope in forged)
    # The order moved once, on the legitimate reply only.
    order = Order.objects.using("orders").get(id=order.id)
    assert order.status == "ValidatingStock"
    assert [(t.source, t.target) for t in order.transitions.all()] == [
        ("", "ValidatingBilling"),
        ("ValidatingBilling", "ValidatingStock"),
    ]
