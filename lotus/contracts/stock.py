"""Commands to and events of the stock service (``stock.commands``, ``stock.events``)."""

from uuid import UUID

from pydantic import Field

from lotus.contracts.base import Command, Event


class ReserveStock(Command, service="stock"):
    order_id: UUID
    product_id: int
    quantity: int = Field(default=1, gt=0)


class ReleaseStock(Command, service="stock"):
    """Put the order's reserved item back on hand, or take it out of the waiting queue."""

    order_id: UUID


class StockReserved(Event, service="stock"):
    order_id: UUID
    product_id: int
    quantity: int


class StockBackordered(Event, service="stock"):
    """Not on hand: the reservation waits in the product's queue for goods to arrive."""

    order_id: UUID
    product_id: int


class StockReleased(Event, service="stock"):
    order_id: UUID
    quantity: int
