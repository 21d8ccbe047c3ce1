"""Couriers, their hourly slots, and the orders' delivery requests."""

from datetime import UTC, datetime, timedelta

from django.db import models
from django.utils import timezone

HOUR = timedelta(hours=1)


def start_of_hour(moment: datetime) -> datetime:
    """The slot ``moment`` falls in: the start of its hour, in UTC (a naive ``moment`` is taken as UTC)."""
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Courier(models.Model):
    name = models.CharField(max_length=100, unique=True)
    capacity_per_slot = models.PositiveIntegerField(default=5, help_text="Orders this courier carries per hour.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class SlotBooking(models.Model):
    """How many orders a courier carries in the hour starting at ``slot`` (never above its capacity)."""

    courier = models.ForeignKey(Courier, on_delete=models.PROTECT, related_name="bookings")
    slot = models.DateTimeField()
    booked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["slot", "courier_id"]
        constraints = [models.UniqueConstraint(fields=["courier", "slot"], name="one_booking_row_per_courier_slot")]

    def __str__(self) -> str:
        return f"{self.courier_id} at {self.slot:%Y-%m-%d %H:%M}: {self.booked} booked"

    def has_room(self, capacity: int) -> bool:
        return self.booked < capacity


class DeliveryRequest(models.Model):
    """An order's delivery: waiting (for an operator or a free courier), reserved, or released.

    A ``released`` row without a product is a tombstone: the order was released before its
    request arrived, so that late ``ReserveCourier`` must do nothing.
    """

    class Status(models.TextChoices):
        WAITING = "waiting"
        RESERVED = "reserved"
        RELEASED = "released"

    order_id = models.UUIDField(unique=True)
    product_id = models.IntegerField(null=True, blank=True)
    requested_slot = models.DateTimeField(null=True, blank=True)
    manual = models.BooleanField(default=False, help_text="Waits for an operator to accept it.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    courier = models.ForeignKey(Courier, on_delete=models.PROTECT, null=True, blank=True)
    slot = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True, help_text="Why it waits (or was released).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "id"], name="delivery_request_status_idx")]

    def __str__(self) -> str:
        return f"delivery of order {self.order_id}: {self.status}"

    def preferred_slot(self, now: datetime) -> datetime | None:
        """The requested slot while it is still ahead; ``None`` (the earliest one) once it has started."""
        if self.requested_slot is not None and self.requested_slot > now:
            return self.requested_slot
        return None
