"""Fixtures of the billing tests: the books that must balance, and services run in a unit of
work of their own, as an API view runs them."""

import pytest
from django.db.models import Sum

from billing.handlers import REGISTRY
from billing.models import Account, LedgerEntry
from lotus.testing import in_one_batch as one_batch
from lotus.testing import in_unit_of_work


def assert_ledgers_balance() -> None:
    """Every account's ledger sums to its balance, and no balance is negative."""
    for account in Account.objects.all():
        total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or 0
        assert account.balance == total, f"customer {account.customer_id}: {account.balance} != ledger {total}"
        assert account.balance >= 0


@pytest.fixture
def assert_books():
    """The check that every account's ledger sums to its balance (call it)."""
    return assert_ledgers_balance


@pytest.fixture
def in_uow():
    """``in_uow(service, **arguments)``: run a billing service in a unit of work of its own."""
    return in_unit_of_work("billing")


@pytest.fixture
def in_one_batch():
    """``in_one_batch(*messages)``: handle the messages as one batch of the billing consumer."""
    return one_batch("billing", REGISTRY)
