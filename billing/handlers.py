"""What the billing service reacts to: charges and refunds of orders, new customers."""

from billing import services
from lotus.contracts.billing import ChargeOrder, RefundOrder
from lotus.contracts.diagnostics import Ping
from lotus.contracts.profiles import UserRegistered
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Handlers
from lotus.messaging.unit_of_work import UnitOfWork


def handle_charge_order(message: ChargeOrder, uow: UnitOfWork) -> None:
    services.charge_order(uow=uow, order_id=message.order_id, customer_id=message.customer_id, amount=message.amount)


def handle_refund_order(message: RefundOrder, uow: UnitOfWork) -> None:
    services.charge_refund(uow=uow, order_id=message.order_id, customer_id=message.customer_id)


def handle_user_registered(message: UserRegistered, uow: UnitOfWork) -> None:
    services.account_get_or_create(uow=uow, customer_id=message.customer_id)


REGISTRY = Handlers(
    {
        ChargeOrder: handle_charge_order,
        RefundOrder: handle_refund_order,
        UserRegistered: handle_user_registered,
        Ping: record_ping,
    }
)
