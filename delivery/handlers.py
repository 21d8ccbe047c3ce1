"""What the delivery service reacts to: the orders saga's reserve and release commands."""

from delivery import services
from lotus.contracts.delivery import ReleaseCourier, ReserveCourier
from lotus.contracts.diagnostics import Ping
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Handlers
from lotus.messaging.unit_of_work import UnitOfWork


def handle_reserve_courier(message: ReserveCourier, uow: UnitOfWork) -> None:
    services.courier_reserve(
        uow=uow, order_id=message.order_id, product_id=message.product_id, slot=message.slot, manual=message.manual
    )


def handle_release_courier(message: ReleaseCourier, uow: UnitOfWork) -> None:
    services.courier_release(uow=uow, order_id=message.order_id)


REGISTRY = Handlers(
    {
        ReserveCourier: handle_reserve_courier,
        ReleaseCourier: handle_release_courier,
        Ping: record_ping,
    }
)
