"""What the orders service reacts to: the replies of billing, stock and delivery."""

from lotus.contracts.billing import PaymentFailed, PaymentRefunded, PaymentTaken
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved
from lotus.contracts.diagnostics import Ping
from lotus.contracts.stock import StockBackordered, StockReleased, StockReserved
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Context, Handlers
from orders import services


def handle_payment_taken(message: PaymentTaken, context: Context) -> None:
    services.order_payment_taken(order_id=message.order_id, causation_id=context.message_id)


def handle_payment_failed(message: PaymentFailed, context: Context) -> None:
    services.order_payment_failed(
        order_id=message.order_id, shortfall=message.shortfall, causation_id=context.message_id
    )


def handle_stock_reserved(message: StockReserved, context: Context) -> None:
    services.order_stock_reserved(order_id=message.order_id, causation_id=context.message_id)


def handle_stock_backordered(message: StockBackordered, context: Context) -> None:
    services.order_waits(order_id=message.order_id, why="the item is not on hand")


def handle_courier_reserved(message: CourierReserved, context: Context) -> None:
    services.order_courier_reserved(order_id=message.order_id, causation_id=context.message_id)


def handle_courier_pending(message: CourierPending, context: Context) -> None:
    services.order_waits(order_id=message.order_id, why=message.reason)


def handle_payment_refunded(message: PaymentRefunded, context: Context) -> None:
    services.order_compensated(
        order_id=message.order_id, service="billing", refunded=message.amount, causation_id=context.message_id
    )


def handle_stock_released(message: StockReleased, context: Context) -> None:
    services.order_compensated(order_id=message.order_id, service="stock", causation_id=context.message_id)


def handle_courier_released(message: CourierReleased, context: Context) -> None:
    services.order_compensated(order_id=message.order_id, service="delivery", causation_id=context.message_id)


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
