"""Writes of the notifications service.

Events are checked like requests: every notification of an order is for the customer who placed
it, so an event that names another customer for an order already notified is refused with
:class:`~lotus.messaging.registry.MessageRejected` (dead-lettered, nobody is told anything).
"""

from __future__ import annotations

import uuid

from lotus.messaging.registry import MessageRejected
from lotus.messaging.unit_of_work import UnitOfWork
from notifications.models import Notification


def notification_create(
    *, uow: UnitOfWork, customer_id: int, order_id: uuid.UUID, event: str, message: str
) -> Notification | None:
    """Record what happened; exactly one notification per (order, event): a repeat creates nothing."""
    customers = {notification.customer_id for notification in uow.select(Notification, order_id=order_id)}
    if customers - {customer_id}:
        raise MessageRejected(
            f"{event} for order {order_id} names customer {customer_id}; the order's notifications are for "
            f"customer {', '.join(map(str, sorted(customers)))}"
        )
    notification = Notification(customer_id=customer_id, order_id=order_id, event=event, message=message)
    created = uow.insert_unless_present(notification, unique_fields=("order_id", "event"))
    return notification if created else None
