"""What the stock service reacts to: the orders saga's reserve and release commands."""

from lotus.contracts.diagnostics import Ping
from lotus.contracts.stock import ReleaseStock, ReserveStock
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Handlers
from lotus.messaging.unit_of_work import UnitOfWork
from stock import services


def handle_reserve_stock(message: ReserveStock, uow: UnitOfWork) -> None:
    services.stock_reserve(uow=uow, order_id=message.order_id, product_id=message.product_id, quantity=message.quantity)


def handle_release_stock(message: ReleaseStock, uow: UnitOfWork) -> None:
    services.stock_release(uow=uow, order_id=message.order_id)


REGISTRY = Handlers(
    {
        ReserveStock: handle_reserve_stock,
        ReleaseStock: handle_release_stock,
        Ping: record_ping,
    }
)
