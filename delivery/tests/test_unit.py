"""Delivery's handlers and services on a fake unit of work: no database, only what they write
and send. (Looking past full slots counts them with the ORM: that is tested on PostgreSQL.)"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from delivery import handlers
from delivery.models import Courier, DeliveryRequest, SlotBooking
from delivery.services import AWAITING_OPERATOR, NO_FREE_COURIER, delivery_accept
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved, ReleaseCourier, ReserveCourier
from lotus.errors import Conflict, NotFound
from lotus.messaging.registry import MessageRejected
from lotus.testing import FakeUnitOfWork

TEN = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def couriers() -> list[Courier]:
    return [Courier(pk=1, name="Ann", capacity_per_slot=2), Courier(pk=2, name="Bob", capacity_per_slot=1)]


def test_reserve_courier_creates_the_slot_rows_and_books_the_least_busy_courier():
    uow = FakeUnitOfWork("delivery", rows=couriers())
    order = uuid.uuid4()
    handlers.handle_reserve_courier(ReserveCourier(order_id=order, product_id=1, slot=TEN + timedelta(minutes=20)), uow)
    assert uow.sent == [CourierReserved(order_id=order, courier_id=1, slot=TEN)]
    assert [(row.courier_id, row.booked) for row in uow.select(SlotBooking, slot=TEN)] == [(1, 1), (2, 0)]
    request = uow.get(DeliveryRequest, order_id=order)
    assert (request.status, request.courier_id, request.slot, request.requested_slot) == ("reserved", 1, TEN, TEN)


def test_a_full_courier_leaves_the_order_to_the_one_with_room():
    ann_full = SlotBooking(courier_id=1, slot=TEN, booked=2)
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), ann_full, SlotBooking(courier_id=2, slot=TEN, booked=0)])
    order = uuid.uuid4()
    handlers.handle_reserve_courier(ReserveCourier(order_id=order, product_id=1, slot=TEN), uow)
    assert uow.sent == [CourierReserved(order_id=order, courier_id=2, slot=TEN)]
    assert ann_full.booked == 2


def test_a_manual_delivery_waits_for_the_operator_and_books_nothing():
    uow = FakeUnitOfWork("delivery", rows=couriers())
    order = uuid.uuid4()
    handlers.handle_reserve_courier(ReserveCourier(order_id=order, product_id=3, manual=True), uow)
    assert uow.sent == [CourierPending(order_id=order, reason=AWAITING_OPERATOR)]
    assert uow.select(SlotBooking) == []


def test_without_couriers_the_request_waits_for_a_free_one():
    uow = FakeUnitOfWork("delivery")
    order = uuid.uuid4()
    handlers.handle_reserve_courier(ReserveCourier(order_id=order, product_id=1), uow)
    assert uow.sent == [CourierPending(order_id=order, reason=NO_FREE_COURIER)]


def test_a_reserve_for_an_order_seen_before_books_nothing():
    order = uuid.uuid4()
    tombstone = DeliveryRequest(order_id=order, product_id=None, status="released")
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), tombstone])
    handlers.handle_reserve_courier(ReserveCourier(order_id=order, product_id=1, slot=TEN), uow)
    assert (uow.sent, uow.select(SlotBooking)) == ([], [])


def test_release_before_reserve_leaves_a_tombstone_and_confirms():
    uow = FakeUnitOfWork("delivery")
    order = uuid.uuid4()
    handlers.handle_release_courier(ReleaseCourier(order_id=order), uow)
    assert uow.sent == [CourierReleased(order_id=order)]
    tombstone = uow.get(DeliveryRequest, order_id=order)
    assert (tombstone.status, tombstone.product_id) == ("released", None)


def test_releasing_a_reserved_request_frees_its_place_and_confirms():
    order = uuid.uuid4()
    booking = SlotBooking(courier_id=1, slot=TEN, booked=2)
    request = DeliveryRequest(order_id=order, product_id=1, status="reserved", courier_id=1, slot=TEN)
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), booking, request])
    handlers.handle_release_courier(ReleaseCourier(order_id=order), uow)
    assert uow.sent == [CourierReleased(order_id=order)]
    assert (booking.booked, request.status) == (1, "released")


def test_a_release_asked_again_confirms_again_and_frees_nothing():
    order = uuid.uuid4()
    request = DeliveryRequest(order_id=order, product_id=1, status="released", courier_id=1, slot=TEN)
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), SlotBooking(courier_id=1, slot=TEN, booked=1), request])
    handlers.handle_release_courier(ReleaseCourier(order_id=order), uow)
    assert uow.sent == [CourierReleased(order_id=order)]
    assert uow.updated == []


def test_the_operator_accepts_a_waiting_request_and_it_is_booked():
    order = uuid.uuid4()
    waiting = DeliveryRequest(order_id=order, product_id=3, requested_slot=TEN, manual=True, status="waiting")
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), waiting])
    assert delivery_accept(uow=uow, order_id=order) is waiting
    assert uow.sent == [CourierReserved(order_id=order, courier_id=1, slot=TEN)]
    assert (waiting.status, waiting.reason) == ("reserved", "")


@pytest.mark.parametrize(("rows", "error"), [([], NotFound), ([DeliveryRequest(status="reserved")], Conflict)])
def test_accepting_an_unknown_or_not_waiting_request_is_refused(rows, error):
    order = uuid.uuid4()
    for row in rows:
        row.order_id = order
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), *rows])
    with pytest.raises(error):
        delivery_accept(uow=uow, order_id=order)
    assert uow.sent == []


@pytest.mark.parametrize(
    "asked",
    [
        {"product_id": 2, "slot": TEN},
        {"product_id": 1, "slot": TEN + timedelta(hours=1)},
        {"product_id": 1, "slot": TEN, "manual": True},
    ],
    ids=["another product", "another slot", "another mode"],
)
def test_a_reserve_asked_again_for_another_product_slot_or_mode_is_rejected_and_books_nothing(asked):
    order = uuid.uuid4()
    booking = SlotBooking(courier_id=1, slot=TEN, booked=1)
    request = DeliveryRequest(
        order_id=order, product_id=1, requested_slot=TEN, status="reserved", courier_id=1, slot=TEN
    )
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), booking, request])
    with pytest.raises(MessageRejected, match="its request is"):
        handlers.handle_reserve_courier(ReserveCourier(order_id=order, **asked), uow)
    assert (booking.booked, request.status, uow.sent, uow.updated) == (1, "reserved", [], [])


def test_a_reserve_asked_again_with_the_same_claims_books_nothing():
    order = uuid.uuid4()
    request = DeliveryRequest(order_id=order, product_id=1, requested_slot=TEN, status="waiting", reason="x")
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), request])
    handlers.handle_reserve_courier(ReserveCourier(order_id=order, product_id=1, slot=TEN + timedelta(minutes=5)), uow)
    assert (uow.sent, uow.select(SlotBooking), request.status) == ([], [], "waiting")


def test_a_release_frees_only_the_orders_own_booking():
    order = uuid.uuid4()
    own, other = SlotBooking(courier_id=1, slot=TEN, booked=2), SlotBooking(courier_id=2, slot=TEN, booked=1)
    request = DeliveryRequest(order_id=order, product_id=1, status="reserved", courier_id=1, slot=TEN)
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), own, other, request])
    handlers.handle_release_courier(ReleaseCourier(order_id=order), uow)
    assert (own.booked, other.booked) == (1, 1)


@pytest.mark.parametrize("booked", [None, 0], ids=["no booking row", "nothing booked"])
def test_a_release_whose_booking_is_not_there_is_rejected_and_changes_nothing(booked):
    order = uuid.uuid4()
    rows = [] if booked is None else [SlotBooking(courier_id=1, slot=TEN, booked=booked)]
    request = DeliveryRequest(order_id=order, product_id=1, status="reserved", courier_id=1, slot=TEN)
    uow = FakeUnitOfWork("delivery", rows=[*couriers(), *rows, request])
    with pytest.raises(MessageRejected, match="has no booking"):
        handlers.handle_release_courier(ReleaseCourier(order_id=order), uow)
    assert (request.status, uow.sent, uow.updated) == ("reserved", [], [])
