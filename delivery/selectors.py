"""Reads of the delivery service."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from delivery.models import HOUR, Courier, SlotBooking


def slot_board(*, day: date) -> list[dict[str, Any]]:
    """Every hour of ``day`` (UTC) with each courier's booked places and capacity."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    couriers = list(Courier.objects.order_by("id"))
    booked = {
        (courier_id, slot): count
        for courier_id, slot, count in SlotBooking.objects.filter(
            slot__gte=start, slot__lt=start + timedelta(days=1)
        ).values_list("courier_id", "slot", "booked")
    }
    board = []
    for hour in range(24):
        slot = start + hour * HOUR
        board.append(
            {
                "slot": slot,
                "couriers": [
                    {
                        "courier_id": courier.id,
                        "name": courier.name,
                        "booked": booked.get((courier.id, slot), 0),
                        "capacity": courier.capacity_per_slot,
                    }
                    for courier in couriers
                ],
            }
        )
    return board
