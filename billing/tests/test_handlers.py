"""Billing's handlers through the real inbox + handler transaction."""

import uuid
from decimal import Decimal

import pytest

from billing.handlers import REGISTRY
from billing.models import Account
from billing.services import account_deposit
from lotus.contracts.billing import ChargeOrder, PaymentTaken, RefundOrder
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
