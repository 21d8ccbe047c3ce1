"""What the orders service reacts to: the replies of billing, stock and delivery, each checked
against the order it names before it moves the saga (``orders.services``)."""

from lotus.contracts.billing import PaymentFailed, PaymentRefunded, PaymentTaken
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved
from lotus.contracts.diagnostics import Ping
from lotus.contracts.stock import StockBackordered, StockReleased, StockReserved
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Handlers
from lotus.messaging.unit_of_work import UnitOfWork
from orders import services


def handle_payment_taken(message: PaymentTaken, uow: UnitOfWork) -> None:
    services.order_payment_taken(
        uow=uow, order_id=message.order_id, customer_id=message.customer_id, amount=message.amount
    )


def handle_payment_failed(message: PaymentFailed, uow: UnitOfWork) -> None:
    services.order_payment_failed(
        uow=uow,
        order_id=message.order_id,
        customer_id=message.customer_id,
        amount=message.amount,
        shortfall=message.shortfall,
    )


def handle_stock_reserved(message: StockReserved, uow: UnitOfWork) -> None:
    services.order_stock_reserved(
        uow=uow, order_id=message.order_id, product_id=message.product_id, quantity=message.quantity
    )


def handle_stock_backordered(message: StockBackordered, uow: UnitOfWork) -> None:
    services.order_stock_backordered(uow=uow, order_id=message.order_id, product_id=message.product_id)


def handle_courier_reserved(message: CourierReserved, uow: UnitOfWork) -> None:
    services.order_courier_reserved(uow=uow, order_id=message.order_id)


def handle_courier_pending(message: CourierPending, uow: UnitOfWork) -> None:
    services.order_courier_pending(uow=uow, order_id=message.order_id, reason=message.reason)


def handle_payment_refunded(message: PaymentRefunded, uow: UnitOfWork) -> None:
    services.order_refunded(uow=uow, order_id=message.order_id, customer_id=message.customer_id, amount=message.amount)


def handle_stock_released(message: StockReleased, uow: UnitOfWork) -> None:
    services.order_stock_released(uow=uow, order_id=message.order_id, quantity=message.quantity)


def handle_courier_released(message: CourierReleased, uow: UnitOfWork) -> None:
    services.order_courier_released(uow=uow, order_id=message.order_id)


REGISTRY = Handlers(
    {
        PaymentTaken: handle_payment_taken,
        PaymentFailed: handle_payment_failed,
        StockReserved: handle_stock_reserved,
        StockBackordered: handle_stock_backordered,
        CourierReserved: handle_courier_reserved,
        CourierPending: handle_courier_pending,
        PaymentRefunded: handle_payment_refunded,
        StockReleased: handle_stock_released,
        CourierReleased: handle_courier_released,
        Ping: record_ping,
    }
)
