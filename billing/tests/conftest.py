"""Fixtures of the billing tests: the books that must balance, and services run in a unit of
work of their own, as an API view runs them."""

import uuid

import pytest
from django.db.models import Sum

from billing.handlers import REGISTRY
from billing.models import Account, LedgerEntry
from lotus.contracts import Envelope
from lotus.messaging.unit_of_work import UnitOfWork


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

    def run(service, /, **arguments):
        with UnitOfWork("billing") as uow:
            return service(uow=uow, **arguments)

    return run


@pytest.fixture
def in_one_batch():
    """``in_one_batch(*messages)``: handle the messages in one unit of work, as the consumer
    handles a batch: what one writes, the next must see."""

    def run(*messages):
        with UnitOfWork("billing", publisher=None) as uow:
            for message in messages:
                REGISTRY.handle(Envelope.wrap(message, source="test", correlation_id=str(uuid.uuid4())), uow)

    return run


@pytest.fixture
def no_web_publishing(lotus_setting):
    """Units of work that own their transaction (``transaction=True`` tests) leave their rows
    to the relay instead of producing them to the broker: these tests read the outbox."""
    lotus_setting("WEB", PUBLISHES=False)
