"""What the billing service reacts to: charges and refunds of orders, new customers."""

from billing import services
from lotus.contracts.billing import ChargeOrder, RefundOrder
from lotus.contracts.diagnostics import Ping
from lotus.contracts.profiles import UserRegistered
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Context, Handlers


def handle_charge_order(message: ChargeOrder, context: Context) -> None:
    services.charge_order(
        order_id=message.order_id,
        customer_id=message.customer_id,
        amount=message.amount,
        causation_id=context.message_id,
    )


def handle_refund_order(message: RefundOrder, context: Context) -> None:
    services.charge_refund(order_id=message.order_id, customer_id=message.customer_id, causation_id=context.message_id)


def handle_user_registered(message: UserRegistered, context: Context) -> None:
    services.account_get_or_create(customer_id=message.customer_id)


REGISTRY = Handlers(
    {
        ChargeOrder: handle_charge_order,
        RefundOrder: handle_refund_order,
        UserRegistered: handle_user_registered,
        Ping: record_ping,
    }
)
