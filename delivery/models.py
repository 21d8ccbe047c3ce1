"""Couriers, their hourly slots, and the orders' delivery requests."""

from django.db import models
from django.utils import timezone


class Courier(models.Model):
    name = models.CharField(max_length=100, unique=True)
    capacity_per_slot = models.PositiveIntegerField(default=5)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class SlotBooking(models.Model):
    """How many orders a courier carries in the hour starting at ``slot``."""

    courier = models.ForeignKey(Courier, on_delete=models.PROTECT, related_name="bookings")
    slot = models.DateTimeField()
    booked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["slot", "courier_id"]
        constraints = [models.UniqueConstraint(fields=["courier", "slot"], name="one_booking_row_per_courier_slot")]

    def __str__(self) -> str:
        return f"{self.courier_id} at {self.slot:%Y-%m-%d %H:%M}: {self.booked} booked"


class DeliveryRequest(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting"
        RESERVED = "reserved"
        RELEASED = "released"

    order_id = models.UUIDField(unique=True)
    product_id = models.IntegerField()
    requested_slot = models.DateTimeField(null=True, blank=True)
    manual = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    courier = models.ForeignKey(Courier, on_delete=models.PROTECT, null=True, blank=True)
    slot = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"delivery of order {self.order_id}: {self.status}"
