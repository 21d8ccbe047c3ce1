"""Commands to and events of the delivery service (``delivery.commands``, ``delivery.events``)."""

from datetime import datetime
from uuid import UUID

from lotus.contracts.base import Command, Event


class ReserveCourier(Command, service="delivery"):
    order_id: UUID
    product_id: int
    slot: datetime | None = None
    manual: bool = False


class ReleaseCourier(Command, service="delivery"):
    order_id: UUID


class CourierReserved(Event, service="delivery"):
    order_id: UUID
    courier_id: int
    slot: datetime


class CourierPending(Event, service="delivery"):
    """The request waits: for an operator to accept it, or for a free slot."""

    order_id: UUID
    reason: str


class CourierReleased(Event, service="delivery"):
    order_id: UUID
