"""Checks shared by the delivery tests: slot bookings always agree with the requests."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from delivery.models import DeliveryRequest, SlotBooking


def assert_slots_consistent() -> None:
    """No slot above its courier's capacity, and every slot's ``booked`` equals the number of
    reserved requests in it."""
    reserved = Counter(
        DeliveryRequest.objects.filter(status=DeliveryRequest.Status.RESERVED).values_list("courier_id", "slot")
    )
    bookings = {(b.courier_id, b.slot): b for b in SlotBooking.objects.select_related("courier")}
    for key, booking in bookings.items():
        assert 0 <= booking.booked <= booking.courier.capacity_per_slot, booking
        assert booking.booked == reserved.get(key, 0), (booking, reserved.get(key, 0))
    assert set(reserved) <= set(bookings), "a reserved request without a booking row"


def next_full_hours() -> set[datetime]:
    """The earliest bookable slot now, and the one after it in case the hour turns during the test."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {hour, hour + timedelta(hours=1)}


def booked(courier, slot) -> int:
    row = SlotBooking.objects.filter(courier=courier, slot=slot).first()
    return row.booked if row else 0


def request_of(order_id) -> DeliveryRequest:
    return DeliveryRequest.objects.get(order_id=order_id)
