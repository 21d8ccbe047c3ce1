"""Writes of the delivery service: booking couriers into hourly slots, accepting and releasing.

A courier carries at most ``capacity_per_slot`` orders in one hour; :class:`SlotBooking` counts
them. Booking a slot locks every courier's row of that slot (created on first use), so bookers
of one slot are serialised and capacity is never exceeded. Rows are always locked in the order
(delivery request, then slot rows by courier id), which keeps concurrent writers deadlock-free.

Commands are checked like requests: a booking asked again with another product, slot or
delivery mode than the order's request is refused with
:class:`~lotus.messaging.registry.MessageRejected` (dead-lettered, nothing changes). A release
names only the order: it frees that order's booking and no other.

Every service takes the caller's :class:`~lotus.messaging.unit_of_work.UnitOfWork`: the API
view or the consumer owns the transaction, and what a service sends goes out with its writes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import Count, F
from django.utils import timezone

from delivery.models import HOUR, Courier, DeliveryRequest, SlotBooking, start_of_hour
from lotus.conf import lotus_settings
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved
from lotus.errors import Conflict, NotFound
from lotus.messaging.registry import MessageRejected
from lotus.messaging.unit_of_work import UnitOfWork

AWAITING_OPERATOR = "awaiting operator acceptance"
NO_FREE_COURIER = "no free courier"


def horizon_days() -> int:
    """How many days ahead a booking looks for a free slot."""
    return lotus_settings.DELIVERY["HORIZON_DAYS"]


def courier_reserve(
    *, uow: UnitOfWork, order_id: uuid.UUID, product_id: int, slot: datetime | None = None, manual: bool = False
) -> DeliveryRequest:
    """Book a courier for the order (the requested slot, else the earliest free one), or let the
    request wait: for an operator when delivery is manual, or for capacity when none is free.

    Idempotent per order: an order that already has a request (even a tombstone left by an
    earlier release) gets it back and nothing is sent, unless that request is for another
    product, slot or mode (:class:`MessageRejected`).
    """
    # The request goes in first: an order that has one already (or a tombstone) books nothing.
    request = DeliveryRequest(
        order_id=order_id,
        product_id=product_id,
        requested_slot=start_of_hour(slot) if slot is not None else None,
        manual=manual,
        status=DeliveryRequest.Status.WAITING,
        reason=AWAITING_OPERATOR if manual else NO_FREE_COURIER,
    )
    if not uow.insert_unless_present(request, unique_fields=("order_id",)):
        existing = uow.get(DeliveryRequest, order_id=order_id)
        claimed = (request.product_id, request.requested_slot, request.manual)
        held = (existing.product_id, existing.requested_slot, existing.manual)
        if existing.product_id is not None and claimed != held:
            raise MessageRejected(
                f"ReserveCourier for order {order_id} asks (product, slot, manual) {claimed}; its request is {held}"
            )
        return existing
    booking = None if manual else _book(uow, preferred=request.preferred_slot(timezone.now()))
    if booking is None:
        uow.send(CourierPending(order_id=order_id, reason=request.reason))
    else:
        _reserve(uow, request, booking)
    return request


def delivery_accept(*, uow: UnitOfWork, order_id: uuid.UUID) -> DeliveryRequest:
    """An operator accepts a waiting request: book it now (manual delivery no longer blocks)."""
    request = uow.locked(DeliveryRequest, order_id=order_id)
    if request is None:
        raise NotFound(f"No delivery request for order {order_id}.")
    if request.status != DeliveryRequest.Status.WAITING:
        raise Conflict(f"The delivery of order {order_id} is {request.status}, not waiting to be accepted.")
    booking = _book(uow, preferred=request.preferred_slot(timezone.now()))
    if booking is None:
        raise Conflict(
            f"No courier has a free slot in the next {horizon_days()} days; the order keeps waiting.",
            details={"orderId": str(order_id)},
        )
    _reserve(uow, request, booking)
    return request


def courier_release(*, uow: UnitOfWork, order_id: uuid.UUID) -> DeliveryRequest:
    """Free the order's courier slot (or stop its waiting); an order not seen yet gets a tombstone.

    Idempotent and answering: a request already released frees nothing, and the confirmation is
    sent again (a saga that asks again lost the first one)."""
    request = uow.locked(DeliveryRequest, order_id=order_id)
    if request is None:
        # A released request without a product: the order's ReserveCourier, if it comes, must do nothing.
        tombstone = DeliveryRequest(
            order_id=order_id,
            product_id=None,
            status=DeliveryRequest.Status.RELEASED,
            reason="released before it was requested",
        )
        if uow.insert_unless_present(tombstone, unique_fields=("order_id",)):
            uow.send(CourierReleased(order_id=order_id))
            return tombstone
        request = uow.locked(DeliveryRequest, order_id=order_id)  # its request came in meanwhile
    if request.status == DeliveryRequest.Status.RELEASED:
        uow.send(CourierReleased(order_id=order_id))
        return request
    if request.status == DeliveryRequest.Status.RESERVED:
        booking = uow.locked(SlotBooking, courier_id=request.courier_id, slot=request.slot)
        if booking is None or booking.booked < 1:
            raise MessageRejected(
                f"ReleaseCourier for order {order_id}: courier {request.courier_id} has no booking at {request.slot}"
            )
        booking.booked -= 1
        uow.update(booking, ["booked"])
    request.status = DeliveryRequest.Status.RELEASED
    request.reason = "released"
    uow.update(request, ["status", "reason"])
    uow.send(CourierReleased(order_id=order_id))
    return request


def _book(uow: UnitOfWork, *, preferred: datetime | None) -> SlotBooking | None:
    """Take one place in the earliest slot with a free courier, from ``preferred`` (or the next
    full hour) up to the horizon; ``None`` when every slot in that window is full."""
    capacities = {courier.id: courier.capacity_per_slot for courier in uow.select(Courier, capacity_per_slot__gt=0)}
    if not capacities:
        return None
    start = preferred or start_of_hour(timezone.now()) + HOUR
    booking = _book_in(uow, start, capacities)
    if booking is not None:
        return booking
    end = start + timedelta(days=horizon_days())
    full = _full_slots(uow, start + HOUR, end, capacities)
    slot = start + HOUR
    while slot < end:
        if slot not in full:
            booking = _book_in(uow, slot, capacities)
            if booking is not None:
                return booking
        slot += HOUR
    return None


def _full_slots(uow: UnitOfWork, start: datetime, end: datetime, capacities: dict[int, int]) -> set[datetime]:
    """Slots in ``[start, end)`` in which every courier is fully booked, in one query."""
    rows = (
        SlotBooking.objects.using(uow.alias)
        .filter(slot__gte=start, slot__lt=end, courier_id__in=capacities, booked__gte=F("courier__capacity_per_slot"))
        .values("slot")
        .annotate(full_couriers=Count("id"))
        .filter(full_couriers=len(capacities))
        .values_list("slot", flat=True)
    )
    return set(rows)


def _book_in(uow: UnitOfWork, slot: datetime, capacities: dict[int, int]) -> SlotBooking | None:
    """Lock the slot's rows and take a place with the least busy courier that has room."""
    rows = _locked_slot_rows(uow, slot, capacities)
    if len(rows) < len(capacities):
        present = {row.courier_id for row in rows}
        for courier_id in capacities:
            if courier_id not in present:
                # ON CONFLICT DO NOTHING: a concurrent booker may create the same row first.
                booking = SlotBooking(courier_id=courier_id, slot=slot)
                uow.insert_unless_present(booking, unique_fields=("courier_id", "slot"))
        rows = _locked_slot_rows(uow, slot, capacities)
    free = [row for row in rows if row.has_room(capacities[row.courier_id])]
    if not free:
        return None
    booking = min(free, key=lambda row: (row.booked, row.courier_id))
    booking.booked += 1
    uow.update(booking, ["booked"])
    return booking


def _locked_slot_rows(uow: UnitOfWork, slot: datetime, capacities: dict[int, int]) -> list[SlotBooking]:
    return uow.select(
        SlotBooking, for_update=True, order_by=("courier_id",), slot=slot, courier_id__in=list(capacities)
    )


def _reserve(uow: UnitOfWork, request: DeliveryRequest, booking: SlotBooking) -> None:
    request.status = DeliveryRequest.Status.RESERVED
    request.courier_id = booking.courier_id
    request.slot = booking.slot
    request.reason = ""
    uow.update(request, ["status", "courier", "slot", "reason"])
    uow.send(CourierReserved(order_id=request.order_id, courier_id=booking.courier_id, slot=booking.slot))
