"""Fixtures of the delivery tests: couriers, a slot, the bookings that must agree with the
requests, and services run in a unit of work of their own, as an API view runs them."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from delivery.handlers import REGISTRY
from delivery.models import Courier, DeliveryRequest, SlotBooking
from lotus.testing import in_one_batch as one_batch
from lotus.testing import in_unit_of_work


@pytest.fixture
def two_couriers(db):
    """A small fleet whose capacity is easy to fill: Ann carries 2 orders an hour, Bob 1."""
    return [
        Courier.objects.create(name="Ann", capacity_per_slot=2),
        Courier.objects.create(name="Bob", capacity_per_slot=1),
    ]


@pytest.fixture
def tomorrow_at_ten() -> datetime:
    """A slot safely in the future (and not the next hour, so it differs from the earliest one)."""
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def _assert_slots_consistent() -> None:
    reserved = Counter(
        DeliveryRequest.objects.filter(status=DeliveryRequest.Status.RESERVED).values_list("courier_id", "slot")
    )
    bookings = {(b.courier_id, b.slot): b for b in SlotBooking.objects.select_related("courier")}
    for key, booking in bookings.items():
        assert 0 <= booking.booked <= booking.courier.capacity_per_slot, booking
        assert booking.booked == reserved.get(key, 0), (booking, reserved.get(key, 0))
    assert set(reserved) <= set(bookings), "a reserved request without a booking row"


def _next_full_hours() -> set[datetime]:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {hour, hour + timedelta(hours=1)}


def _booked(courier, slot) -> int:
    row = SlotBooking.objects.filter(courier=courier, slot=slot).first()
    return row.booked if row else 0


def _request_of(order_id) -> DeliveryRequest:
    return DeliveryRequest.objects.get(order_id=order_id)


@pytest.fixture
def assert_slots_consistent():
    """The check (call it) that no slot is above its courier's capacity and every slot's
    ``booked`` equals the number of reserved requests in it."""
    return _assert_slots_consistent


@pytest.fixture
def next_full_hours():
    """``next_full_hours()``: the earliest bookable slot now, and the one after it in case the
    hour turns during the test."""
    return _next_full_hours


@pytest.fixture
def booked():
    """``booked(courier, slot)``: the places booked with the courier in the slot."""
    return _booked


@pytest.fixture
def request_of():
    """``request_of(order_id)``: the order's delivery request."""
    return _request_of


@pytest.fixture
def in_uow():
    """``in_uow(service, **arguments)``: run a delivery service in a unit of work of its own."""
    return in_unit_of_work("delivery")


@pytest.fixture
def in_one_batch():
    """``in_one_batch(*messages)``: handle the messages as one batch of the delivery consumer."""
    return one_batch("delivery", REGISTRY)
