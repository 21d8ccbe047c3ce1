"""Billing's handlers through the real inbox + handler transaction."""

import uuid
from decimal import Decimal

import pytest

from billing.handlers import REGISTRY
from billing.models import Account, Charge
from billing.services import account_deposit
from lotus.contracts.billing import ChargeOrder, PaymentFailed, PaymentRefunded, PaymentTaken, RefundOrder
from lotus.contracts.profiles import UserRegistered
from lotus.messaging.consumer import Outcome
from lotus.testing import deliver, deliver_envelope, published

pytestmark = pytest.mark.django_db(databases="__all__")


def test_a_registered_user_gets_an_empty_account():
    deliver(UserRegistered(customer_id=9, email="nine@lotus.test"), to="billing", handlers=REGISTRY)
    assert Account.objects.get(customer_id=9).balance == 0


def test_a_duplicate_charge_command_is_skipped_by_the_inbox(in_uow, assert_books):
    in_uow(account_deposit, customer_id=1, amount=Decimal("1000"))
    order = uuid.uuid4()
    outcome, envelope = deliver(
        ChargeOrder(order_id=order, customer_id=1, amount=Decimal("300")), to="billing", handlers=REGISTRY
    )
    assert outcome is Outcome.APPLIED
    assert deliver_envelope(envelope, to="billing", handlers=REGISTRY) is Outcome.DUPLICATE
    assert Account.objects.get(customer_id=1).balance == Decimal("700")
    assert len(published("billing", PaymentTaken)) == 1
    assert_books()


def test_refund_before_charge_out_of_order_never_takes_the_money(in_uow, assert_books):
    in_uow(account_deposit, customer_id=1, amount=Decimal("1000"))
    order = uuid.uuid4()
    deliver(RefundOrder(order_id=order, customer_id=1), to="billing", handlers=REGISTRY)
    deliver(ChargeOrder(order_id=order, customer_id=1, amount=Decimal("300")), to="billing", handlers=REGISTRY)
    assert Account.objects.get(customer_id=1).balance == Decimal("1000")
    assert_books()


def test_a_refund_and_the_late_charge_of_its_order_in_one_batch_take_no_money(in_uow, in_one_batch, assert_books):
    in_uow(account_deposit, customer_id=1, amount=Decimal("1000"))
    order = uuid.uuid4()
    in_one_batch(
        RefundOrder(order_id=order, customer_id=1), ChargeOrder(order_id=order, customer_id=1, amount=Decimal("300"))
    )
    assert Account.objects.get(customer_id=1).balance == Decimal("1000")
    assert Charge.objects.get(order_id=order).status == "dropped"
    assert published("billing") == [PaymentRefunded(order_id=order, customer_id=1, amount=Decimal("0"))]
    assert_books()


def test_charges_and_refunds_of_one_customer_in_one_batch_keep_the_books(in_uow, in_one_batch, assert_books):
    in_uow(account_deposit, customer_id=1, amount=Decimal("500"))
    first, second = uuid.uuid4(), uuid.uuid4()
    in_one_batch(
        ChargeOrder(order_id=first, customer_id=1, amount=Decimal("300")),
        ChargeOrder(order_id=second, customer_id=1, amount=Decimal("300")),
        RefundOrder(order_id=first, customer_id=1),
        ChargeOrder(order_id=first, customer_id=1, amount=Decimal("300")),
    )
    assert Account.objects.get(customer_id=1).balance == Decimal("500")
    assert [m.order_id for m in published("billing", PaymentTaken)] == [first]
    assert [m.order_id for m in published("billing", PaymentFailed)] == [second]
    assert_books()
