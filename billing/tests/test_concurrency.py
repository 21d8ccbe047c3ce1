"""Concurrent top-ups and charges on one account: never negative, never two charges, in balance."""

import uuid
from decimal import Decimal

import pytest

from billing.models import Account, Charge
from billing.services import account_deposit, charge_order
from lotus.testing import run_together

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("no_web_publishing"),
]


def test_concurrent_top_ups_and_charges_keep_the_books(in_uow, assert_books):
    orders = [uuid.uuid4() for _ in range(10)]
    work = [lambda: in_uow(account_deposit, customer_id=1, amount=Decimal("100")) for _ in range(10)]
    work += [
        lambda order=order: in_uow(charge_order, order_id=order, customer_id=1, amount=Decimal("150"))
        for order in orders
    ]
    work += [lambda order=orders[0]: in_uow(charge_order, order_id=order, customer_id=1, amount=Decimal("150"))]
    assert run_together(work) == []
    assert_books()
    charges = Charge.objects.filter(order_id__in=orders)
    assert charges.count() == 10
    paid = charges.filter(status="paid").count()
    assert Account.objects.get(customer_id=1).balance == Decimal("1000") - paid * Decimal("150")
    assert paid == 6  # 1000 / 150, oldest first, whatever the interleaving
