"""Fixtures of the stock tests: the seed, the counters that must balance with the
reservations, and services run in a unit of work of their own, as an API view runs them."""

import pytest
from django.db.models import Sum

from lotus.testing import in_one_batch as one_batch
from lotus.testing import in_unit_of_work
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
    return in_unit_of_work("stock")


@pytest.fixture
def in_one_batch():
    """``in_one_batch(*messages)``: handle the messages as one batch of the stock consumer."""
    return one_batch("stock", REGISTRY)
