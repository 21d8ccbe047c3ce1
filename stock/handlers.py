"""What the stock service reacts to: the orders saga's reserve and release commands."""

from lotus.contracts.diagnostics import Ping
from lotus.contracts.stock import ReleaseStock, ReserveStock
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Context, Handlers
from stock import services


def handle_reserve_stock(message: ReserveStock, context: Context) -> None:
    services.stock_reserve(
        order_id=message.order_id,
        product_id=message.product_id,
        quantity=message.quantity,
        causation_id=context.message_id,
    )


def handle_release_stock(message: ReleaseStock, context: Context) -> None:
    services.stock_release(order_id=message.order_id, causation_id=context.message_id)


REGISTRY = Handlers(
    {
        ReserveStock: handle_reserve_stock,
        ReleaseStock: handle_release_stock,
        Ping: record_ping,
    }
)
