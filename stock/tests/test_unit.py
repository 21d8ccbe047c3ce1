"""Stock's handlers and services on a fake unit of work: no database, only what they write and
send. (Serving the waiting queue pages through it with the ORM: that is tested on PostgreSQL.)"""

import uuid

import pytest

from lotus.contracts.stock import ReleaseStock, ReserveStock, StockBackordered, StockReleased, StockReserved
from lotus.errors import LotusError
from lotus.messaging.registry import MessageRejected
from lotus.testing import FakeUnitOfWork
from stock import handlers
from stock.models import Reservation, StockItem
from stock.services import stock_reserve


def item(product_id: int, on_hand: int, reserved: int = 0) -> StockItem:
    return StockItem(
        pk=product_id, product_id=product_id, on_hand=on_hand, reserved=reserved, received=on_hand + reserved
    )


def reservation(order_id: uuid.UUID, status: str, *, product_id: int | None = 1, quantity: int = 1) -> Reservation:
    return Reservation(order_id=order_id, product_id=product_id, quantity=quantity, status=status)


def test_reserve_stock_on_hand_reserves_and_says_so():
    stock = item(1, 10)
    uow = FakeUnitOfWork("stock", rows=[stock])
    order = uuid.uuid4()
    handlers.handle_reserve_stock(ReserveStock(order_id=order, product_id=1, quantity=3), uow)
    assert uow.sent == [StockReserved(order_id=order, product_id=1, quantity=3)]
    assert (stock.on_hand, stock.reserved, stock.received) == (7, 3, 10)
    assert (stock, ["on_hand", "reserved"]) in uow.updated
    assert uow.get(Reservation, order_id=order).status == "reserved"


def test_reserve_stock_of_an_unknown_product_makes_an_empty_item_and_backorders():
    uow = FakeUnitOfWork("stock")
    order = uuid.uuid4()
    handlers.handle_reserve_stock(ReserveStock(order_id=order, product_id=77, quantity=1), uow)
    assert uow.sent == [StockBackordered(order_id=order, product_id=77)]
    assert uow.get(StockItem, product_id=77).on_hand == 0
    assert uow.get(Reservation, order_id=order).status == "waiting"


def test_a_reservation_for_an_order_seen_before_sends_nothing():
    order = uuid.uuid4()
    tombstone = reservation(order, "withdrawn", product_id=None, quantity=0)
    stock = item(1, 10)
    uow = FakeUnitOfWork("stock", rows=[stock, tombstone])
    assert stock_reserve(uow=uow, order_id=order, product_id=1) is tombstone
    assert (uow.sent, stock.on_hand) == ([], 10)


@pytest.mark.parametrize("quantity", [0, -1])
def test_reserving_nothing_or_less_is_refused(quantity):
    uow = FakeUnitOfWork("stock", rows=[item(1, 10)])
    with pytest.raises(LotusError):
        stock_reserve(uow=uow, order_id=uuid.uuid4(), product_id=1, quantity=quantity)
    assert uow.sent == []


def test_release_before_reserve_leaves_a_tombstone_and_confirms_nothing_released():
    uow = FakeUnitOfWork("stock")
    order = uuid.uuid4()
    handlers.handle_release_stock(ReleaseStock(order_id=order), uow)
    assert uow.sent == [StockReleased(order_id=order, quantity=0)]
    tombstone = uow.get(Reservation, order_id=order)
    assert (tombstone.status, tombstone.product_id, tombstone.quantity) == ("withdrawn", None, 0)


def test_releasing_a_waiting_order_withdraws_it_and_moves_no_goods():
    order = uuid.uuid4()
    waiting = reservation(order, "waiting", quantity=2)
    stock = item(1, 0)
    uow = FakeUnitOfWork("stock", rows=[stock, waiting])
    handlers.handle_release_stock(ReleaseStock(order_id=order), uow)
    assert uow.sent == [StockReleased(order_id=order, quantity=0)]
    assert (waiting.status, stock.on_hand, stock.reserved) == ("withdrawn", 0, 0)


@pytest.mark.parametrize(("status", "released"), [("released", 2), ("withdrawn", 0)])
def test_a_release_asked_again_confirms_again_and_changes_nothing(status, released):
    order = uuid.uuid4()
    settled = reservation(order, status, quantity=2)
    stock = item(1, 5)
    uow = FakeUnitOfWork("stock", rows=[stock, settled])
    handlers.handle_release_stock(ReleaseStock(order_id=order), uow)
    assert uow.sent == [StockReleased(order_id=order, quantity=released)]
    assert (settled.status, stock.on_hand, uow.updated) == (status, 5, [])


@pytest.mark.parametrize(("product_id", "quantity"), [(2, 1), (1, 3)], ids=["another product", "another quantity"])
def test_a_reservation_asked_again_for_another_product_or_quantity_is_rejected(product_id, quantity):
    order = uuid.uuid4()
    held = reservation(order, "reserved", product_id=1, quantity=1)
    stock, other = item(1, 9, reserved=1), item(2, 10)
    uow = FakeUnitOfWork("stock", rows=[stock, other, held])
    with pytest.raises(MessageRejected, match="its reservation is 1 x product 1"):
        handlers.handle_reserve_stock(ReserveStock(order_id=order, product_id=product_id, quantity=quantity), uow)
    assert (stock.on_hand, stock.reserved, other.on_hand, other.reserved, held.status) == (9, 1, 10, 0, "reserved")
    assert uow.sent == uow.updated == []


def test_a_reservation_asked_again_with_the_same_claims_is_returned_and_sends_nothing():
    order = uuid.uuid4()
    held = reservation(order, "reserved", product_id=1, quantity=2)
    uow = FakeUnitOfWork("stock", rows=[item(1, 8, reserved=2), held])
    assert stock_reserve(uow=uow, order_id=order, product_id=1, quantity=2) is held
    assert uow.sent == uow.updated == []


def test_a_release_of_more_than_the_product_has_reserved_is_rejected_and_changes_nothing():
    order = uuid.uuid4()
    held = reservation(order, "reserved", quantity=3)
    stock = item(1, 9, reserved=1)
    uow = FakeUnitOfWork("stock", rows=[stock, held])
    with pytest.raises(MessageRejected, match="only 1 are reserved"):
        handlers.handle_release_stock(ReleaseStock(order_id=order), uow)
    assert (stock.on_hand, stock.reserved, held.status) == (9, 1, "reserved")
    assert uow.sent == uow.updated == []
