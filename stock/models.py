"""Goods on hand per product and the reservations made against them."""

from django.db import models
from django.utils import timezone


class StockItem(models.Model):
    product_id = models.IntegerField(unique=True)
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    received = models.PositiveIntegerField(default=0, help_text="Everything ever received: on_hand + reserved.")

    class Meta:
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(received=models.F("on_hand") + models.F("reserved")), name="stock_balances"
            )
        ]

    def __str__(self) -> str:
        return f"product {self.product_id}: {self.on_hand} on hand, {self.reserved} reserved"


class Reservation(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting"
        RESERVED = "reserved"
        RELEASED = "released"
        WITHDRAWN = "withdrawn"

    order_id = models.UUIDField(unique=True)
    product_id = models.IntegerField()
    quantity = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["product_id", "status", "id"], name="reservation_queue_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id} for order {self.order_id}: {self.status}"
