"""What the notifications service reacts to: what happened to each order (orders.events)."""

from lotus.contracts.diagnostics import Ping
from lotus.contracts.orders import OrderCancelled, OrderInDelivery, OrderPaid, OrderPaymentFailed, OrderReserved
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Handlers
from lotus.messaging.unit_of_work import UnitOfWork
from notifications.models import Notification
from notifications.services import notification_create

Event = Notification.Event


def handle_payment_failed(message: OrderPaymentFailed, uow: UnitOfWork) -> None:
    notification_create(
        uow=uow,
        customer_id=message.customer_id,
        order_id=message.order_id,
        event=Event.PAYMENT_FAILED,
        message=(
            f"Payment for order {message.order_id} failed: {message.shortfall:.2f} more is needed. "
            "Top up your balance and the order continues."
        ),
    )


def handle_order_paid(message: OrderPaid, uow: UnitOfWork) -> None:
    notification_create(
        uow=uow,
        customer_id=message.customer_id,
        order_id=message.order_id,
        event=Event.ORDER_PAID,
        message=f"Order {message.order_id} is paid ({message.amount:.2f}).",
    )


def handle_order_reserved(message: OrderReserved, uow: UnitOfWork) -> None:
    notification_create(
        uow=uow,
        customer_id=message.customer_id,
        order_id=message.order_id,
        event=Event.ORDER_RESERVED,
        message=f"Order {message.order_id}: your item is reserved at the warehouse.",
    )


def handle_order_in_delivery(message: OrderInDelivery, uow: UnitOfWork) -> None:
    notification_create(
        uow=uow,
        customer_id=message.customer_id,
        order_id=message.order_id,
        event=Event.ORDER_IN_DELIVERY,
        message=f"Order {message.order_id} is on its way: a courier has it.",
    )


def handle_order_cancelled(message: OrderCancelled, uow: UnitOfWork) -> None:
    refund = f"{message.refunded:.2f} was refunded" if message.refunded else "nothing had been charged"
    notification_create(
        uow=uow,
        customer_id=message.customer_id,
        order_id=message.order_id,
        event=Event.ORDER_CANCELLED,
        message=f"Order {message.order_id} is cancelled ({message.reason}); {refund}.",
    )


REGISTRY = Handlers(
    {
        OrderPaymentFailed: handle_payment_failed,
        OrderPaid: handle_order_paid,
        OrderReserved: handle_order_reserved,
        OrderInDelivery: handle_order_in_delivery,
        OrderCancelled: handle_order_cancelled,
        Ping: record_ping,
    }
)
