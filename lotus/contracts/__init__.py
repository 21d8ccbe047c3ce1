"""Message contracts: the only thing the services share.

Each module holds one service's commands and events; :data:`MESSAGES` lists every one of
them explicitly, and :func:`message_class` finds a class by its wire ``type``.

Topics (logical names; a deployment may prefix them with ``LOTUS_KAFKA_NAMESPACE``):

=======================  ===========================================================
``billing.commands``     ChargeOrder, RefundOrder
``billing.events``       PaymentTaken, PaymentFailed, PaymentRefunded
``stock.commands``       ReserveStock, ReleaseStock
``stock.events``         StockReserved, StockBackordered, StockReleased
``delivery.commands``    ReserveCourier, ReleaseCourier
``delivery.events``      CourierReserved, CourierPending, CourierReleased
``orders.events``        OrderPlaced, OrderPaymentFailed, OrderPaid, OrderReserved,
                         OrderInDelivery, OrderCancelled
``profiles.events``      UserRegistered
``diagnostics.commands`` Ping
``<service>.deadletter`` messages a service's consumer gave up on
=======================  ===========================================================
"""

from lotus.contracts import billing, delivery, diagnostics, orders, profiles, stock
from lotus.contracts.base import Command, ContractError, Envelope, Event, Message

MESSAGES: tuple[type[Message], ...] = (
    billing.ChargeOrder,
    billing.RefundOrder,
    billing.PaymentTaken,
    billing.PaymentFailed,
    billing.PaymentRefunded,
    stock.ReserveStock,
    stock.ReleaseStock,
    stock.StockReserved,
    stock.StockBackordered,
    stock.StockReleased,
    delivery.ReserveCourier,
    delivery.ReleaseCourier,
    delivery.CourierReserved,
    delivery.CourierPending,
    delivery.CourierReleased,
    orders.OrderPlaced,
    orders.OrderPaymentFailed,
    orders.OrderPaid,
    orders.OrderReserved,
    orders.OrderInDelivery,
    orders.OrderCancelled,
    profiles.UserRegistered,
    diagnostics.Ping,
)

_BY_TYPE = {cls.type_name(): cls for cls in MESSAGES}


def message_class(type_name: str) -> type[Message] | None:
    """The contract class for a wire ``type``, or ``None`` when no contract has that name."""
    return _BY_TYPE.get(type_name)


def topics() -> list[str]:
    """Every logical topic a contract travels on."""
    return sorted({cls.topic for cls in MESSAGES})


__all__ = ["MESSAGES", "Command", "ContractError", "Envelope", "Event", "Message", "message_class", "topics"]
