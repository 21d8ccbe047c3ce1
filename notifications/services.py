"""Writes of the notifications service."""

from __future__ import annotations

import uuid

from lotus.db import insert_unless_present
from lotus.messaging.registry import unit_of_work
from lotus.topology import alias_for
from notifications.models import Notification

ALIAS = alias_for("notifications")


def notification_create(*, customer_id: int, order_id: uuid.UUID, event: str, message: str) -> Notification | None:
    """Record what happened; exactly one notification per (order, event): a repeat creates nothing."""
    notification = Notification(customer_id=customer_id, order_id=order_id, event=event, message=message)
    with unit_of_work("notifications"):
        created = insert_unless_present(notification, unique_fields=("order_id", "event"), using=ALIAS)
    return notification if created else None
