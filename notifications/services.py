"""Writes of the notifications service."""

from __future__ import annotations

import uuid

from lotus.messaging.unit_of_work import UnitOfWork
from notifications.models import Notification


def notification_create(
    *, uow: UnitOfWork, customer_id: int, order_id: uuid.UUID, event: str, message: str
) -> Notification | None:
    """Record what happened; exactly one notification per (order, event): a repeat creates nothing."""
    notification = Notification(customer_id=customer_id, order_id=order_id, event=event, message=message)
    created = uow.insert_unless_present(notification, unique_fields=("order_id", "event"))
    return notification if created else None
