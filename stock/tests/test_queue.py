"""The queue policy of waiting reservations: first come, first served, but a reservation that
has waited past LOTUS_QUEUE_HOLD_SECONDS (a stuck order) no longer holds back the ones behind it."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from lotus.contracts.stock import StockReserved
from lotus.testing import published
from stock.models import Reservation
from stock.services import stock_receive, stock_release, stock_reserve

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("seeded")]

PRODUCT = 2  # none on hand in the seed


@pytest.fixture(autouse=True)
def balanced(lotus_setting, assert_stock_balances):
    lotus_setting("QUEUE", HOLD_SECONDS=600)
    yield
    assert_stock_balances()


def stuck_reservation(in_uow, *, waited: timedelta) -> uuid.UUID:
    """A reservation of more than will arrive soon (its order's cancellation lost its release,
    say), written ``waited`` ago."""
    stuck = uuid.uuid4()
    assert in_uow(stock_reserve, order_id=stuck, product_id=PRODUCT, quantity=5).status == "waiting"
    Reservation.objects.filter(order_id=stuck).update(created_at=timezone.now() - waited)
    return stuck


def test_within_the_hold_time_a_later_reservation_that_fits_waits_behind_the_stuck_one(counters, status_of, in_uow):
    stuck = stuck_reservation(in_uow, waited=timedelta(seconds=590))
    in_uow(stock_receive, product_id=PRODUCT, count=2)
    later = uuid.uuid4()
    assert in_uow(stock_reserve, order_id=later, product_id=PRODUCT).status == "waiting"
    _, served = in_uow(stock_receive, product_id=PRODUCT, count=1)
    assert served == []
    assert (status_of(stuck), status_of(later)) == ("waiting", "waiting")
    assert counters(PRODUCT) == (3, 0, 3)


def test_past_the_hold_time_later_reservations_pass_the_stuck_one_and_arriving_goods_serve_them(
    counters, status_of, in_uow
):
    stuck = stuck_reservation(in_uow, waited=timedelta(seconds=610))
    _, served = in_uow(stock_receive, product_id=PRODUCT, count=2)
    assert served == []

    later = uuid.uuid4()
    assert in_uow(stock_reserve, order_id=later, product_id=PRODUCT).status == "reserved"  # at once
    big, small = uuid.uuid4(), uuid.uuid4()
    assert in_uow(stock_reserve, order_id=big, product_id=PRODUCT, quantity=2).status == "waiting"
    # The 2 wait for a moment only: they hold the 1 behind them, which would fit.
    assert in_uow(stock_reserve, order_id=small, product_id=PRODUCT).status == "waiting"

    _, served = in_uow(stock_receive, product_id=PRODUCT, count=2)
    assert served == [big, small]
    assert counters(PRODUCT) == (0, 4, 4)
    assert status_of(stuck) == "waiting"

    _, served = in_uow(stock_receive, product_id=PRODUCT, count=5)  # still served once it fits
    assert served == [stuck]
    assert counters(PRODUCT) == (0, 9, 9)
    assert [m.order_id for m in published("stock", StockReserved)] == [later, big, small, stuck]


def test_goods_coming_back_serve_past_the_stuck_one_too(status_of, in_uow):
    stuck = stuck_reservation(in_uow, waited=timedelta(hours=1))
    in_uow(stock_receive, product_id=PRODUCT, count=1)
    holder, waiting = uuid.uuid4(), uuid.uuid4()
    assert in_uow(stock_reserve, order_id=holder, product_id=PRODUCT).status == "reserved"
    assert in_uow(stock_reserve, order_id=waiting, product_id=PRODUCT).status == "waiting"
    in_uow(stock_release, order_id=holder)
    assert (status_of(stuck), status_of(waiting)) == ("waiting", "reserved")


def test_arriving_goods_reach_past_more_stuck_reservations_than_there_are_goods(counters, in_uow):
    stuck = [stuck_reservation(in_uow, waited=timedelta(seconds=10)) for _ in range(3)]
    later = uuid.uuid4()
    assert in_uow(stock_reserve, order_id=later, product_id=PRODUCT).status == "waiting"
    Reservation.objects.filter(order_id__in=stuck).update(created_at=timezone.now() - timedelta(hours=1))
    _, served = in_uow(stock_receive, product_id=PRODUCT, count=2)
    assert served == [later]
    assert counters(PRODUCT) == (1, 1, 2)


def test_a_stuck_reservation_is_still_withdrawn_by_its_release_and_never_served(counters, status_of, in_uow):
    stuck = stuck_reservation(in_uow, waited=timedelta(hours=1))
    in_uow(stock_release, order_id=stuck)
    _, served = in_uow(stock_receive, product_id=PRODUCT, count=10)
    assert served == []
    assert status_of(stuck) == "withdrawn"
    assert counters(PRODUCT) == (10, 0, 10)


def test_a_hold_time_of_zero_keeps_the_queue_strictly_first_come(lotus_setting, in_uow):
    lotus_setting("QUEUE", HOLD_SECONDS=0)
    stuck_reservation(in_uow, waited=timedelta(days=1))
    in_uow(stock_receive, product_id=PRODUCT, count=2)
    assert in_uow(stock_reserve, order_id=uuid.uuid4(), product_id=PRODUCT).status == "waiting"
