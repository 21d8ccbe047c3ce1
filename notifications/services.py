"""Writes of the notifications service."""

from __future__ import annotations

import uuid

from lotus.messaging.registry import unit_of_work
from lotus.topology import alias_for
from notifications.models import Notification

ALIAS = alias_for("notifications")


def notification_create(*, customer_id: int, order_id: uuid.UUID, event: str, message: str) -> Notification | None:
    """Record what happened; exactly one notification per (order, event): a repeat creates nothing."""
    with unit_of_work("notifications"):
        if Notification.objects.filter(order_id=order_id, event=event).exists():
            return None
        # The unique constraint settles a race with a concurrent consumer without an error.
        Notification.objects.bulk_create(
            [Notification(customer_id=customer_id, order_id=order_id, event=event, message=message)],
            ignore_conflicts=True,
        )
        return Notification.objects.filter(order_id=order_id, event=event).first()
