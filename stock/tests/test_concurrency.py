"""Many workers at once on one product: real threads, real PostgreSQL row locks, real commits."""

import uuid

import pytest

from lotus.contracts.stock import StockBackordered, StockReserved
from lotus.testing import published, run_together
from stock.models import Reservation, StockItem
from stock.seed import seed
from stock.services import stock_receive, stock_release, stock_reserve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("no_web_publishing"),
]


def with_on_hand(product_id: int, quantity: int) -> None:
    StockItem.objects.filter(product_id=product_id).update(on_hand=quantity, reserved=0, received=quantity)


def test_fifty_orders_racing_for_twenty_items_reserve_exactly_twenty(assert_stock_balances, counters, in_uow):
    seed()
    with_on_hand(1, 20)
    orders = [uuid.uuid4() for _ in range(50)]

    errors = run_together([lambda o=o: in_uow(stock_reserve, order_id=o, product_id=1) for o in orders])

    assert errors == []
    assert counters(1) == (0, 20, 20)
    statuses = list(Reservation.objects.values_list("status", flat=True))
    assert statuses.count("reserved") == 20
    assert statuses.count("waiting") == 30
    assert len(published("stock", StockReserved)) == 20
    assert len(published("stock", StockBackordered)) == 30
    assert_stock_balances()


def test_goods_received_by_many_operators_at_once_serve_the_queue_in_order_exactly_once(
    assert_stock_balances, counters, in_uow
):
    seed()
    queue = [uuid.uuid4() for _ in range(30)]
    for order in queue:
        in_uow(stock_reserve, order_id=order, product_id=2)

    errors = run_together([lambda: in_uow(stock_receive, product_id=2, count=2) for _ in range(10)])

    assert errors == []
    assert counters(2) == (0, 20, 20)
    reserved = set(Reservation.objects.filter(status="reserved").values_list("order_id", flat=True))
    assert reserved == set(queue[:20])
    assert [m.order_id for m in published("stock", StockReserved)] == queue[:20]
    assert_stock_balances()


def test_reserving_releasing_and_receiving_at_once_never_goes_negative(assert_stock_balances, counters, in_uow):
    seed()
    with_on_hand(1, 5)
    holders = [uuid.uuid4() for _ in range(5)]
    for order in holders:
        in_uow(stock_reserve, order_id=order, product_id=1)
    newcomers = [uuid.uuid4() for _ in range(20)]

    jobs = [lambda o=o: in_uow(stock_release, order_id=o) for o in holders]
    jobs += [lambda o=o: in_uow(stock_reserve, order_id=o, product_id=1) for o in newcomers]
    jobs += [lambda: in_uow(stock_receive, product_id=1, count=1) for _ in range(5)]
    errors = run_together(jobs)

    assert errors == []
    on_hand, reserved, received = counters(1)
    assert received == 10
    # Ten items and twenty newcomers: whatever the interleaving, every item ends up reserved.
    assert (on_hand, reserved) == (0, 10)
    assert Reservation.objects.filter(order_id__in=newcomers, status="reserved").count() == 10
    assert Reservation.objects.filter(order_id__in=newcomers, status="waiting").count() == 10
    assert_stock_balances()


def test_a_release_racing_its_own_reservation_leaves_no_reservation_behind(assert_stock_balances, counters, in_uow):
    seed()
    orders = [uuid.uuid4() for _ in range(15)]
    jobs = []
    for order in orders:
        jobs.append(lambda o=order: in_uow(stock_reserve, order_id=o, product_id=1))
        jobs.append(lambda o=order: in_uow(stock_release, order_id=o))

    errors = run_together(jobs)

    assert errors == []
    # Whichever came first, every order ends settled (released, or withdrawn by a tombstone).
    assert Reservation.objects.filter(order_id__in=orders).count() == 15
    assert not Reservation.objects.filter(status__in=["reserved", "waiting"]).exists()
    assert counters(1) == (1000, 0, 1000)
    assert_stock_balances()
