"""Reads of the notifications service."""

import uuid

from django.db.models import QuerySet

from notifications.models import Notification


def notification_list(
    *, customer_id: int, order_id: uuid.UUID | None = None, after: int | None = None
) -> QuerySet[Notification]:
    """The customer's own notifications, oldest first; with ``after``, those after that id."""
    notifications = Notification.objects.filter(customer_id=customer_id)
    if order_id is not None:
        notifications = notifications.filter(order_id=order_id)
    if after is not None:
        notifications = notifications.filter(id__gt=after)
    return notifications.order_by("id")
