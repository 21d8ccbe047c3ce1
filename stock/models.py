"""Goods on hand per product and the reservations made against them."""

from django.db import models
from django.utils import timezone


class StockItem(models.Model):
    """One product's goods: ``on_hand`` (free) plus ``reserved`` always equals ``received``."""

    product_id = models.IntegerField(unique=True)
    on_hand = models.PositiveBigIntegerField(default=0)
    reserved = models.PositiveBigIntegerField(default=0)
    received = models.PositiveBigIntegerField(default=0, help_text="Everything ever received: on_hand + reserved.")

    class Meta:
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(received=models.F("on_hand") + models.F("reserved")), name="stock_balances"
            )
        ]

    def __str__(self) -> str:
        return f"product {self.product_id}: {self.on_hand} on hand, {self.reserved} reserved"

    def can_reserve(self, quantity: int) -> bool:
        return self.on_hand >= quantity

    def reserve(self, quantity: int) -> None:
        if not self.can_reserve(quantity):
            raise ValueError(f"product {self.product_id}: {quantity} requested, {self.on_hand} on hand")
        self.on_hand -= quantity
        self.reserved += quantity

    def unreserve(self, quantity: int) -> None:
        if self.reserved < quantity:
            raise ValueError(f"product {self.product_id}: {quantity} released, {self.reserved} reserved")
        self.reserved -= quantity
        self.on_hand += quantity

    def receive(self, count: int) -> None:
        self.on_hand += count
        self.received += count


class Reservation(models.Model):
    """An order's claim on a product: served at once, queued (``waiting``) or ended.

    A ``withdrawn`` row without a product is a tombstone: the order was released before its
    reservation arrived, so that late ``ReserveStock`` must do nothing.
    """

    class Status(models.TextChoices):
        WAITING = "waiting"
        RESERVED = "reserved"
        RELEASED = "released"
        WITHDRAWN = "withdrawn"

    order_id = models.UUIDField(unique=True)
    product_id = models.IntegerField(null=True, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["product_id", "status", "id"], name="reservation_queue_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id} for order {self.order_id}: {self.status}"

    @property
    def is_settled(self) -> bool:
        """Released or withdrawn: nothing can happen to it any more."""
        return self.status in (self.Status.RELEASED, self.Status.WITHDRAWN)
