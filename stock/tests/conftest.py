"""Fixtures of the stock tests: the seed, the counters that must balance with the
reservations, and services run in a unit of work of their own, as an API view runs them."""

import uuid

import pytest
from django.db.models import Sum

from lotus.contracts import Envelope
from lotus.messaging.unit_of_work import UnitOfWork
from stock.handlers import REGISTRY
from stock.models import Reservation, StockItem
from stock.seed import seed


@pytest.fixture
def seeded(db):
    """The catalog's initial stock: 1000 of product 1, none of products 2 and 3."""
    seed()


def _assert_stock_balances() -> None:
    for stock in StockItem.objects.all():
        assert stock.on_hand >= 0, stock
        assert stock.reserved >= 0, stock
        assert stock.on_hand + stock.reserved == stock.received, stock
        held = Reservation.objects.filter(product_id=stock.product_id, status=Reservation.Status.RESERVED).aggregate(
            total=Sum("quantity")
        )["total"]
        assert stock.reserved == (held or 0), (stock, held)


def _counters(product_id: int) -> tuple[int, int, int]:
    stock = StockItem.objects.get(product_id=product_id)
    return stock.on_hand, stock.reserved, stock.received


def _status_of(order_id) -> str:
    return Reservation.objects.get(order_id=order_id).status


@pytest.fixture
def assert_stock_balances():
    """The check (call it) that on_hand + reserved == received for every product, nothing is
    negative, and ``reserved`` equals the quantities of the product's reserved reservations."""
    return _assert_stock_balances


@pytest.fixture
def counters():
    """``counters(product_id)``: (on_hand, reserved, received) of the product."""
    return _counters


@pytest.fixture
def status_of():
    """``status_of(order_id)``: the status of the order's reservation."""
    return _status_of


@pytest.fixture
def in_uow():
    """``in_uow(service, **arguments)``: run a stock service in a unit of work of its own."""

    def run(service, /, **arguments):
        with UnitOfWork("stock") as uow:
            return service(uow=uow, **arguments)

    return run


@pytest.fixture
def in_one_batch():
    """``in_one_batch(*messages)``: handle the messages in one unit of work, as the consumer
    handles a batch: what one writes, the next must see."""

    def run(*messages):
        with UnitOfWork("stock", publisher=None) as uow:
            for message in messages:
                REGISTRY.handle(Envelope.wrap(message, source="test", correlation_id=str(uuid.uuid4())), uow)

    return run


@pytest.fixture
def no_web_publishing(lotus_setting):
    """Units of work that own their transaction (``transaction=True`` tests) leave their rows
    to the relay instead of producing them to the broker: these tests read the outbox."""
    lotus_setting("WEB", PUBLISHES=False)
