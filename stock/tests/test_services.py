"""The stock services: reserving first-come, queueing, receiving goods, releasing."""

import uuid

import pytest

from lotus.contracts.stock import StockBackordered, StockReleased, StockReserved
from lotus.errors import LotusError, NotFound
from lotus.testing import published
from stock.models import Reservation, StockItem
from stock.seed import INITIAL_STOCK, seed
from stock.services import stock_receive, stock_release, stock_reserve

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("seeded")]


def new_order() -> uuid.UUID:
    return uuid.uuid4()


def test_the_seed_sets_the_initial_stock_once_and_keeps_later_changes(assert_stock_balances, counters, in_uow):
    assert {i.product_id: (i.on_hand, i.received) for i in StockItem.objects.all()} == {
        product_id: (quantity, quantity) for product_id, quantity in INITIAL_STOCK.items()
    }
    in_uow(stock_receive, product_id=2, count=4)
    assert seed() == "0 stock rows created, 3 kept"
    assert counters(2) == (4, 0, 4)
    assert_stock_balances()


def test_reserving_an_item_on_hand_moves_it_to_reserved_and_says_so(assert_stock_balances, counters, in_uow):
    order = new_order()
    reservation = in_uow(stock_reserve, order_id=order, product_id=1, quantity=3)
    assert reservation.status == Reservation.Status.RESERVED
    assert counters(1) == (997, 3, 1000)
    assert published("stock") == [StockReserved(order_id=order, product_id=1, quantity=3)]
    assert_stock_balances()


def test_reserving_what_is_not_on_hand_queues_the_order_and_says_backordered(assert_stock_balances, counters, in_uow):
    order = new_order()
    reservation = in_uow(stock_reserve, order_id=order, product_id=2)
    assert reservation.status == Reservation.Status.WAITING
    assert counters(2) == (0, 0, 0)
    assert published("stock") == [StockBackordered(order_id=order, product_id=2)]
    assert_stock_balances()


def test_reserving_twice_for_one_order_does_nothing_the_second_time(counters, in_uow):
    order = new_order()
    first = in_uow(stock_reserve, order_id=order, product_id=1)
    again = in_uow(stock_reserve, order_id=order, product_id=1)
    assert again.pk == first.pk
    assert counters(1) == (999, 1, 1000)
    assert len(published("stock")) == 1
    assert Reservation.objects.count() == 1


def test_an_unknown_product_gets_an_empty_item_and_the_order_waits(counters, in_uow):
    order = new_order()
    assert in_uow(stock_reserve, order_id=order, product_id=77).status == Reservation.Status.WAITING
    assert counters(77) == (0, 0, 0)
    assert published("stock") == [StockBackordered(order_id=order, product_id=77)]


def test_a_new_order_never_overtakes_an_older_waiting_one(assert_stock_balances, counters, in_uow):
    in_uow(stock_receive, product_id=2, count=1)
    big = new_order()
    small = new_order()
    assert in_uow(stock_reserve, order_id=big, product_id=2, quantity=2).status == Reservation.Status.WAITING
    # One item is on hand, enough for the small order, but the big one came first.
    assert in_uow(stock_reserve, order_id=small, product_id=2, quantity=1).status == Reservation.Status.WAITING
    assert counters(2) == (1, 0, 1)
    assert_stock_balances()


def test_receiving_goods_serves_waiting_orders_oldest_first_while_goods_last(
    assert_stock_balances, counters, status_of, in_uow
):
    first, second, third = new_order(), new_order(), new_order()
    for order in (first, second, third):
        in_uow(stock_reserve, order_id=order, product_id=2)

    item, served = in_uow(stock_receive, product_id=2, count=2)

    assert served == [first, second]
    assert (item.on_hand, item.reserved, item.received) == (0, 2, 2)
    assert [status_of(o) for o in (first, second, third)] == ["reserved", "reserved", "waiting"]
    assert published("stock", StockReserved) == [
        StockReserved(order_id=first, product_id=2, quantity=1),
        StockReserved(order_id=second, product_id=2, quantity=1),
    ]
    assert_stock_balances()

    _, served = in_uow(stock_receive, product_id=2, count=5)
    assert served == [third]
    assert counters(2) == (4, 3, 7)
    assert_stock_balances()


def test_receiving_too_little_for_the_oldest_order_serves_nobody_behind_it(assert_stock_balances, counters, in_uow):
    big, small = new_order(), new_order()
    in_uow(stock_reserve, order_id=big, product_id=3, quantity=2)
    in_uow(stock_reserve, order_id=small, product_id=3, quantity=1)

    _, served = in_uow(stock_receive, product_id=3, count=1)
    assert served == []
    assert counters(3) == (1, 0, 1)

    _, served = in_uow(stock_receive, product_id=3, count=2)
    assert served == [big, small]
    assert counters(3) == (0, 3, 3)
    assert_stock_balances()


def test_served_reservations_are_published_under_their_own_order_as_correlation(in_uow):
    from lotus.messaging.models import OutboxMessage

    order = new_order()
    in_uow(stock_reserve, order_id=order, product_id=2)
    in_uow(stock_receive, product_id=2, count=1)
    keys = list(OutboxMessage.objects.using("stock").values_list("key", flat=True))
    assert keys == [str(order), str(order)]


def test_receiving_for_an_unknown_product_is_not_found_and_changes_nothing(in_uow):
    with pytest.raises(NotFound):
        in_uow(stock_receive, product_id=42, count=1)
    assert not StockItem.objects.filter(product_id=42).exists()


@pytest.mark.parametrize("quantity", [0, -2])
def test_reserving_nothing_or_less_is_refused(quantity, counters, in_uow):
    with pytest.raises(LotusError):
        in_uow(stock_reserve, order_id=new_order(), product_id=1, quantity=quantity)
    assert not Reservation.objects.exists()
    assert counters(1) == (1000, 0, 1000)


@pytest.mark.parametrize("count", [0, -1])
def test_receiving_nothing_or_less_is_refused(count, counters, in_uow):
    with pytest.raises(LotusError):
        in_uow(stock_receive, product_id=2, count=count)
    assert counters(2) == (0, 0, 0)


def test_releasing_a_reservation_puts_the_goods_back_on_hand(assert_stock_balances, counters, in_uow):
    order = new_order()
    in_uow(stock_reserve, order_id=order, product_id=1, quantity=2)
    reservation = in_uow(stock_release, order_id=order)
    assert reservation.status == Reservation.Status.RELEASED
    assert counters(1) == (1000, 0, 1000)
    assert published("stock", StockReleased) == [StockReleased(order_id=order, quantity=2)]
    assert_stock_balances()


def test_released_goods_serve_the_oldest_waiting_order(assert_stock_balances, counters, status_of, in_uow):
    in_uow(stock_receive, product_id=2, count=1)
    holder, first, second = new_order(), new_order(), new_order()
    in_uow(stock_reserve, order_id=holder, product_id=2)
    in_uow(stock_reserve, order_id=first, product_id=2)
    in_uow(stock_reserve, order_id=second, product_id=2)

    in_uow(stock_release, order_id=holder)

    assert [status_of(o) for o in (holder, first, second)] == ["released", "reserved", "waiting"]
    assert counters(2) == (0, 1, 1)
    assert published("stock", StockReserved)[-1] == StockReserved(order_id=first, product_id=2, quantity=1)
    assert_stock_balances()


def test_releasing_a_waiting_order_takes_it_out_of_the_queue(assert_stock_balances, status_of, in_uow):
    waiting, behind = new_order(), new_order()
    in_uow(stock_reserve, order_id=waiting, product_id=2)
    in_uow(stock_reserve, order_id=behind, product_id=2)

    assert in_uow(stock_release, order_id=waiting).status == Reservation.Status.WITHDRAWN
    assert published("stock", StockReleased) == [StockReleased(order_id=waiting, quantity=0)]

    _, served = in_uow(stock_receive, product_id=2, count=1)
    assert served == [behind]
    assert status_of(waiting) == "withdrawn"
    assert_stock_balances()


def test_a_release_that_comes_before_the_reservation_makes_the_reservation_a_no_op(
    assert_stock_balances, counters, in_uow
):
    order = new_order()
    tombstone = in_uow(stock_release, order_id=order)
    assert (tombstone.status, tombstone.quantity) == (Reservation.Status.WITHDRAWN, 0)
    assert published("stock") == [StockReleased(order_id=order, quantity=0)]

    late = in_uow(stock_reserve, order_id=order, product_id=1)

    assert late.status == Reservation.Status.WITHDRAWN
    assert counters(1) == (1000, 0, 1000)
    assert len(published("stock")) == 1
    assert_stock_balances()


@pytest.mark.parametrize(("product_id", "released"), [(1, 1), (2, 0)])
def test_releasing_twice_changes_nothing_the_second_time_and_confirms_again(
    product_id, released, assert_stock_balances, counters, in_uow
):
    order = new_order()
    in_uow(stock_reserve, order_id=order, product_id=product_id)
    in_uow(stock_release, order_id=order)
    before = counters(product_id)
    in_uow(stock_release, order_id=order)  # asked again: the first confirmation was lost
    assert counters(product_id) == before
    assert published("stock", StockReleased) == [StockReleased(order_id=order, quantity=released)] * 2
    assert_stock_balances()


def test_a_tombstone_released_again_confirms_again(in_uow):
    order = new_order()
    in_uow(stock_release, order_id=order)
    in_uow(stock_release, order_id=order)
    assert published("stock") == [StockReleased(order_id=order, quantity=0)] * 2
    assert Reservation.objects.filter(order_id=order).count() == 1
