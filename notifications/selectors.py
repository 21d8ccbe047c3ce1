"""Reads of the notifications service."""

import uuid

from django.db.models import QuerySet

from notifications.models import Notification


def notification_list(*, customer_id: int, order_id: uuid.UUID | None = None) -> QuerySet[Notification]:
    """The customer's own notifications, oldest first."""
    notifications = Notification.objects.filter(customer_id=customer_id)
    if order_id is not None:
        notifications = notifications.filter(order_id=order_id)
    return notifications.order_by("id")
