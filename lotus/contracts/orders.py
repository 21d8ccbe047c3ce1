"""Events of the orders service (``orders.events``): what happened to each order."""

from decimal import Decimal
from uuid import UUID

from lotus.contracts.base import Event


class OrderPlaced(Event, service="orders"):
    order_id: UUID
    customer_id: int
    product_id: int
    price: Decimal


class OrderPaymentFailed(Event, service="orders"):
    order_id: UUID
    customer_id: int
    shortfall: Decimal


class OrderPaid(Event, service="orders"):
    order_id: UUID
    customer_id: int
    amount: Decimal


class OrderReserved(Event, service="orders"):
    order_id: UUID
    customer_id: int


class OrderInDelivery(Event, service="orders"):
    order_id: UUID
    customer_id: int


class OrderCancelled(Event, service="orders"):
    order_id: UUID
    customer_id: int
    refunded: Decimal
    reason: str
