"""The delivery services: booking couriers into slots, waiting, accepting and releasing."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from delivery.models import Courier, DeliveryRequest, SlotBooking, start_of_hour
from delivery.seed import COURIERS, seed
from delivery.services import AWAITING_OPERATOR, NO_FREE_COURIER, courier_release, courier_reserve, delivery_accept
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved
from lotus.errors import Conflict, NotFound
from lotus.testing import published

pytestmark = pytest.mark.django_db(databases="__all__")

HOUR = timedelta(hours=1)


def new_order() -> uuid.UUID:
    return uuid.uuid4()


def test_the_seed_creates_the_couriers_once_with_five_places_an_hour():
    seed()
    seed()
    assert list(Courier.objects.values_list("name", "capacity_per_slot")) == [(name, 5) for name in COURIERS]


def test_start_of_hour_normalises_to_utc_and_takes_naive_times_as_utc():
    aware = datetime(2030, 5, 1, 12, 45, 10, tzinfo=UTC).astimezone(UTC)
    assert start_of_hour(aware) == datetime(2030, 5, 1, 12, tzinfo=UTC)
    assert start_of_hour(datetime(2030, 5, 1, 12, 45)) == datetime(2030, 5, 1, 12, tzinfo=UTC)


@pytest.mark.usefixtures("two_couriers")
def test_without_a_requested_slot_the_earliest_free_hour_is_booked(assert_slots_consistent, next_full_hours, in_uow):
    order = new_order()
    request = in_uow(courier_reserve, order_id=order, product_id=1)
    assert request.status == DeliveryRequest.Status.RESERVED
    assert request.slot in next_full_hours()
    assert published("delivery") == [CourierReserved(order_id=order, courier_id=request.courier_id, slot=request.slot)]
    assert_slots_consistent()


def test_the_requested_slot_is_booked_and_normalised_to_its_hour(
    two_couriers, tomorrow_at_ten, assert_slots_consistent, booked, in_uow
):
    order = new_order()
    request = in_uow(courier_reserve, order_id=order, product_id=1, slot=tomorrow_at_ten + timedelta(minutes=25))
    assert (request.status, request.slot) == (DeliveryRequest.Status.RESERVED, tomorrow_at_ten)
    assert request.requested_slot == tomorrow_at_ten
    assert booked(two_couriers[0], tomorrow_at_ten) == 1
    assert_slots_consistent()


@pytest.mark.usefixtures("two_couriers")
def test_a_requested_slot_in_the_past_falls_back_to_the_earliest_one(assert_slots_consistent, next_full_hours, in_uow):
    request = in_uow(courier_reserve, order_id=new_order(), product_id=1, slot=datetime.now(UTC) - timedelta(hours=3))
    assert request.status == DeliveryRequest.Status.RESERVED
    assert request.slot in next_full_hours()
    assert_slots_consistent()


def test_the_least_busy_courier_takes_the_order_and_a_full_slot_moves_to_the_next_hour(
    two_couriers, tomorrow_at_ten, assert_slots_consistent, booked, in_uow
):
    ann, bob = two_couriers
    slots = [in_uow(courier_reserve, order_id=new_order(), product_id=1, slot=tomorrow_at_ten) for _ in range(4)]
    assert [(r.courier_id, r.slot) for r in slots] == [
        (ann.id, tomorrow_at_ten),
        (bob.id, tomorrow_at_ten),
        (ann.id, tomorrow_at_ten),
        (ann.id, tomorrow_at_ten + HOUR),
    ]
    assert booked(ann, tomorrow_at_ten) == 2
    assert booked(bob, tomorrow_at_ten) == 1
    assert_slots_consistent()


def test_reserving_twice_for_one_order_books_once(
    two_couriers, tomorrow_at_ten, assert_slots_consistent, booked, in_uow
):
    order = new_order()
    first = in_uow(courier_reserve, order_id=order, product_id=1, slot=tomorrow_at_ten)
    again = in_uow(courier_reserve, order_id=order, product_id=1, slot=tomorrow_at_ten)
    assert again.pk == first.pk
    assert booked(two_couriers[0], tomorrow_at_ten) == 1
    assert len(published("delivery")) == 1
    assert_slots_consistent()


@pytest.mark.usefixtures("two_couriers")
def test_manual_delivery_waits_for_the_operator_without_booking(in_uow):
    order = new_order()
    request = in_uow(courier_reserve, order_id=order, product_id=3, manual=True)
    assert (request.status, request.reason) == (DeliveryRequest.Status.WAITING, AWAITING_OPERATOR)
    assert not SlotBooking.objects.filter(booked__gt=0).exists()
    assert published("delivery") == [CourierPending(order_id=order, reason=AWAITING_OPERATOR)]


def test_without_couriers_the_request_waits_for_a_free_one(in_uow):
    order = new_order()
    request = in_uow(courier_reserve, order_id=order, product_id=1)
    assert (request.status, request.reason) == (DeliveryRequest.Status.WAITING, NO_FREE_COURIER)
    assert published("delivery") == [CourierPending(order_id=order, reason=NO_FREE_COURIER)]


def test_the_search_stops_at_the_horizon(lotus_setting, tomorrow_at_ten, assert_slots_consistent, in_uow):
    lotus_setting("DELIVERY", HORIZON_DAYS=1)
    Courier.objects.create(name="Solo", capacity_per_slot=1)
    day = [in_uow(courier_reserve, order_id=new_order(), product_id=1, slot=tomorrow_at_ten) for _ in range(24)]
    assert [r.slot for r in day] == [tomorrow_at_ten + n * HOUR for n in range(24)]

    late = in_uow(courier_reserve, order_id=new_order(), product_id=1, slot=tomorrow_at_ten)
    assert (late.status, late.reason) == (DeliveryRequest.Status.WAITING, NO_FREE_COURIER)
    assert_slots_consistent()


def test_finding_the_earliest_free_slot_among_thousands_of_full_ones_takes_a_few_queries(
    lotus_setting, django_assert_max_num_queries, tomorrow_at_ten, assert_slots_consistent, in_uow
):
    lotus_setting("DELIVERY", HORIZON_DAYS=200)
    solo = Courier.objects.create(name="Solo", capacity_per_slot=1)
    SlotBooking.objects.bulk_create(
        [SlotBooking(courier=solo, slot=tomorrow_at_ten + n * HOUR, booked=1) for n in range(3000)]
    )
    DeliveryRequest.objects.bulk_create(
        [
            DeliveryRequest(
                order_id=uuid.uuid4(), product_id=1, status="reserved", courier=solo, slot=tomorrow_at_ten + n * HOUR
            )
            for n in range(3000)
        ]
    )
    with django_assert_max_num_queries(15, connection=connections["delivery"]):
        request = in_uow(courier_reserve, order_id=new_order(), product_id=1, slot=tomorrow_at_ten)
    assert request.slot == tomorrow_at_ten + 3000 * HOUR
    assert_slots_consistent()


def test_the_operator_accepts_a_manual_request_and_it_is_booked(
    two_couriers, tomorrow_at_ten, assert_slots_consistent, in_uow
):
    order = new_order()
    in_uow(courier_reserve, order_id=order, product_id=3, slot=tomorrow_at_ten, manual=True)
    request = in_uow(delivery_accept, order_id=order)
    assert (request.status, request.slot, request.courier_id) == ("reserved", tomorrow_at_ten, two_couriers[0].id)
    assert published("delivery", CourierReserved) == [
        CourierReserved(order_id=order, courier_id=two_couriers[0].id, slot=tomorrow_at_ten)
    ]
    assert_slots_consistent()


def test_accepting_a_request_that_waited_for_capacity_books_it_once_there_is_a_courier(
    assert_slots_consistent, next_full_hours, in_uow
):
    order = new_order()
    in_uow(courier_reserve, order_id=order, product_id=1)
    courier = Courier.objects.create(name="Late", capacity_per_slot=1)
    request = in_uow(delivery_accept, order_id=order)
    assert (request.status, request.courier_id) == ("reserved", courier.id)
    assert request.slot in next_full_hours()
    assert_slots_consistent()


def test_accepting_an_unknown_order_is_not_found(in_uow):
    with pytest.raises(NotFound):
        in_uow(delivery_accept, order_id=new_order())


@pytest.mark.usefixtures("two_couriers")
def test_accepting_what_is_not_waiting_is_a_conflict_and_books_nothing_more(assert_slots_consistent, in_uow):
    order = new_order()
    in_uow(courier_reserve, order_id=order, product_id=1)
    with pytest.raises(Conflict):
        in_uow(delivery_accept, order_id=order)
    assert SlotBooking.objects.get(booked__gt=0).booked == 1
    assert_slots_consistent()


def test_accepting_without_any_free_courier_is_a_conflict_and_the_request_keeps_waiting(request_of, in_uow):
    order = new_order()
    in_uow(courier_reserve, order_id=order, product_id=3, manual=True)
    with pytest.raises(Conflict, match="No courier has a free slot"):
        in_uow(delivery_accept, order_id=order)
    assert request_of(order).status == "waiting"
    assert published("delivery", CourierReserved) == []


def test_releasing_a_reserved_courier_frees_its_place(
    two_couriers, tomorrow_at_ten, assert_slots_consistent, booked, in_uow
):
    order = new_order()
    in_uow(courier_reserve, order_id=order, product_id=1, slot=tomorrow_at_ten)
    request = in_uow(courier_release, order_id=order)
    assert request.status == "released"
    assert booked(two_couriers[0], tomorrow_at_ten) == 0
    assert published("delivery", CourierReleased) == [CourierReleased(order_id=order)]
    # The freed place is bookable again.
    assert in_uow(courier_reserve, order_id=new_order(), product_id=1, slot=tomorrow_at_ten).slot == tomorrow_at_ten
    assert_slots_consistent()


@pytest.mark.usefixtures("two_couriers")
def test_releasing_a_waiting_request_stops_it_and_it_can_no_longer_be_accepted(assert_slots_consistent, in_uow):
    order = new_order()
    in_uow(courier_reserve, order_id=order, product_id=3, manual=True)
    assert in_uow(courier_release, order_id=order).status == "released"
    assert published("delivery", CourierReleased) == [CourierReleased(order_id=order)]
    with pytest.raises(Conflict):
        in_uow(delivery_accept, order_id=order)
    assert_slots_consistent()


@pytest.mark.usefixtures("two_couriers")
def test_a_release_before_the_reservation_makes_the_reservation_a_no_op(in_uow):
    order = new_order()
    in_uow(courier_release, order_id=order)
    late = in_uow(courier_reserve, order_id=order, product_id=1)
    assert late.status == "released"
    assert not SlotBooking.objects.filter(booked__gt=0).exists()
    assert published("delivery") == [CourierReleased(order_id=order)]


def test_releasing_twice_frees_the_place_once_and_confirms_again(
    two_couriers, tomorrow_at_ten, assert_slots_consistent, booked, in_uow
):
    kept, released = new_order(), new_order()
    in_uow(courier_reserve, order_id=kept, product_id=1, slot=tomorrow_at_ten)
    in_uow(courier_reserve, order_id=released, product_id=1, slot=tomorrow_at_ten)
    in_uow(courier_release, order_id=released)
    in_uow(courier_release, order_id=released)  # asked again: the first confirmation was lost
    assert booked(two_couriers[0], tomorrow_at_ten) + booked(two_couriers[1], tomorrow_at_ten) == 1
    assert published("delivery", CourierReleased) == [CourierReleased(order_id=released)] * 2
    assert_slots_consistent()
