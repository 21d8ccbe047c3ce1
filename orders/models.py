"""The catalog and the orders, whose ``status`` transitions are the saga."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django_fsm import FSMField, FSMModelMixin, transition


class Product(models.Model):
    id = models.IntegerField(primary_key=True, help_text="idSubscription in the API.")
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=14, decimal_places=2)
    manual_delivery = models.BooleanField(default=False, help_text="Delivery waits for an operator to accept.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id}: {self.name} ({self.price})"


class Status(models.TextChoices):
    VALIDATING_BILLING = "ValidatingBilling"
    VALIDATING_STOCK = "ValidatingStock"
    VALIDATING_DELIVERY = "ValidatingDelivery"
    NOTIFYING_SOURCE_SYSTEM = "NotifyingSourceSystem"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"


#: States in which the customer may still cancel.
CANCELLABLE = [Status.VALIDATING_BILLING, Status.VALIDATING_STOCK, Status.VALIDATING_DELIVERY]


class Order(FSMModelMixin, models.Model):
    """An order and its saga. Only the ``@transition`` methods below change ``status``."""

    Status = Status

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    customer_id = models.BigIntegerField()
    product_id = models.IntegerField()
    price = models.DecimalField(max_digits=14, decimal_places=2)
    manual_delivery = models.BooleanField(default=False)
    delivery_slot = models.DateTimeField(null=True, blank=True)
    status = FSMField(
        max_length=30, choices=Status.choices, default=Status.VALIDATING_BILLING, protected=True, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    pending_compensations = models.JSONField(
        default=list, blank=True, help_text="Services whose compensation is not confirmed yet (while Cancelling)."
    )
    refunded = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    cancel_reason = models.CharField(max_length=200, blank=True)
    escalated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the deadline checker found it Cancelling past LOTUS_CANCELLING_TIMEOUT and asked again.",
    )

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["customer_id", "created_at"], name="order_customer_idx"),
            models.Index(
                fields=["escalated_at"], name="order_escalated_idx", condition=models.Q(escalated_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.id}: {self.status}"

    @cached_property
    def history(self) -> list["OrderTransition"]:
        """The recorded transitions, oldest first (prefetched ``transitions`` are used when present)."""
        return list(self.transitions.all())

    @transition(field=status, source=Status.VALIDATING_BILLING, target=Status.VALIDATING_STOCK)
    def mark_paid(self) -> None:
        """Billing took the payment; the warehouse is asked next."""

    @transition(field=status, source=Status.VALIDATING_STOCK, target=Status.VALIDATING_DELIVERY)
    def mark_reserved(self) -> None:
        """The warehouse reserved the item; delivery is asked next."""

    @transition(field=status, source=Status.VALIDATING_DELIVERY, target=Status.NOTIFYING_SOURCE_SYSTEM)
    def mark_in_delivery(self) -> None:
        """A courier took the order: the saga is complete."""

    @transition(field=status, source=CANCELLABLE, target=Status.CANCELLING)
    def cancel(self, reason: str) -> None:
        """Compensate exactly the steps that completed or were asked for: the charge always;
        the reservation once stock was asked; the courier once delivery was asked."""
        steps = {
            Status.VALIDATING_BILLING: ["billing"],
            Status.VALIDATING_STOCK: ["billing", "stock"],
            Status.VALIDATING_DELIVERY: ["billing", "stock", "delivery"],
        }
        self.pending_compensations = steps[self.status]
        self.cancel_reason = reason

    def compensated(self, service: str) -> bool:
        """Note that ``service`` confirmed its compensation; True when none is pending any more."""
        self.pending_compensations = [name for name in self.pending_compensations if name != service]
        return not self.pending_compensations

    @transition(field=status, source=Status.CANCELLING, target=Status.CANCELLED)
    def mark_cancelled(self) -> None:
        """Every compensation is confirmed."""


class OrderTransition(models.Model):
    """One step of an order's saga: the history returned by the API and shown in the admin.

    The ``message_*`` fields name the message whose handling made the step (its envelope's id,
    type and producing service), so that the admin's saga page can follow it back to the outbox
    that sent it and the Kafka hop it waited in. A step no message caused (a request: placing or
    cancelling, the operator, the deadline checker) has ``message_source`` ``""`` and no id;
    ``None`` in all three: recorded before the fields existed.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    source = models.CharField(max_length=30, blank=True)
    target = models.CharField(max_length=30)
    reason = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)
    message_id = models.UUIDField(null=True, blank=True, help_text="The envelope id of the message that caused it.")
    message_type = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 -- None: not recorded
    message_source = models.CharField(  # noqa: DJ001 -- "": no message (a request), None: not recorded
        max_length=30, null=True, blank=True, help_text="The service that produced the message; empty: a request."
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.source or '-'} → {self.target} at {self.at:%H:%M:%S.%f}"
