"""What each customer is told about their orders: one notification per (order, event)."""

from django.db import models
from django.utils import timezone


class Notification(models.Model):
    class Event(models.TextChoices):
        ORDER_CREATED = "order_created"
        PAYMENT_FAILED = "payment_failed"
        ORDER_PAID = "order_paid"
        ORDER_RESERVED = "order_reserved"
        ORDER_IN_DELIVERY = "order_in_delivery"
        ORDER_CANCELLED = "order_cancelled"

    customer_id = models.BigIntegerField()
    order_id = models.UUIDField()
    event = models.CharField(max_length=30, choices=Event.choices)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["order_id", "event"], name="one_notification_per_order_event")]
        indexes = [models.Index(fields=["customer_id", "id"], name="notification_feed_idx")]

    def __str__(self) -> str:
        return f"{self.event} for order {self.order_id}"
