"""What the delivery service reacts to: the orders saga's reserve and release commands."""

from delivery import services
from lotus.contracts.delivery import ReleaseCourier, ReserveCourier
from lotus.contracts.diagnostics import Ping
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Context, Handlers


def handle_reserve_courier(message: ReserveCourier, context: Context) -> None:
    services.courier_reserve(
        order_id=message.order_id,
        product_id=message.product_id,
        slot=message.slot,
        manual=message.manual,
        causation_id=context.message_id,
    )


def handle_release_courier(message: ReleaseCourier, context: Context) -> None:
    services.courier_release(order_id=message.order_id, causation_id=context.message_id)


REGISTRY = Handlers(
    {
        ReserveCourier: handle_reserve_courier,
        ReleaseCourier: handle_release_courier,
        Ping: record_ping,
    }
)
