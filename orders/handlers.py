"""What the orders service reacts to: the replies of billing, stock and delivery."""

from lotus.contracts.billing import PaymentFailed, PaymentRefunded, PaymentTaken
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved
from lotus.contracts.diagnostics import Ping
from lotus.contracts.stock import StockBackordered, StockReleased, StockReserved
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Handlers
from lotus.messaging.unit_of_work import UnitOfWork
from orders import services


def handle_payment_taken(message: PaymentTaken, uow: UnitOfWork) -> None:
    services.order_payment_taken(uow=uow, order_id=message.order_id)


def handle_payment_failed(message: PaymentFailed, uow: UnitOfWork) -> None:
    services.order_payment_failed(uow=uow, order_id=message.order_id, shortfall=message.shortfall)


def handle_stock_reserved(message: StockReserved, uow: UnitOfWork) -> None:
    services.order_stock_reserved(uow=uow, order_id=message.order_id)


def handle_stock_backordered(message: StockBackordered, uow: UnitOfWork) -> None:
    services.order_waits(order_id=message.order_id, why="the item is not on hand")


def handle_courier_reserved(message: CourierReserved, uow: UnitOfWork) -> None:
    services.order_courier_reserved(uow=uow, order_id=message.order_id)


def handle_courier_pending(message: CourierPending, uow: UnitOfWork) -> None:
    services.order_waits(order_id=message.order_id, why=message.reason)


def handle_payment_refunded(message: PaymentRefunded, uow: UnitOfWork) -> None:
    services.order_compensated(uow=uow, order_id=message.order_id, service="billing", refunded=message.amount)


def handle_stock_released(message: StockReleased, uow: UnitOfWork) -> None:
    services.order_compensated(uow=uow, order_id=message.order_id, service="stock")


def handle_courier_released(message: CourierReleased, uow: UnitOfWork) -> None:
    services.order_compensated(uow=uow, order_id=message.order_id, service="delivery")


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
