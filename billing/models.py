"""Accounts, their ledger, and the charges of orders."""

from decimal import Decimal

from django.db import models
from django.utils import timezone

MONEY = {"max_digits": 14, "decimal_places": 2}


class Account(models.Model):
    customer_id = models.BigIntegerField(unique=True)
    balance = models.DecimalField(**MONEY, default=Decimal("0.00"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(balance__gte=0), name="account_balance_not_negative")]

    def __str__(self) -> str:
        return f"account of customer {self.customer_id}: {self.balance}"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        DEPOSIT = "deposit"
        CHARGE = "charge"
        REFUND = "refund"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**MONEY, help_text="Signed: deposits and refunds add, charges subtract.")
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.order_id or 'top-up'})"


class Charge(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting"
        PAID = "paid"
        REFUNDED = "refunded"
        DROPPED = "dropped"

    order_id = models.UUIDField(unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="charges")
    amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "status", "id"], name="charge_waiting_idx")]

    def __str__(self) -> str:
        return f"charge {self.amount} for order {self.order_id}: {self.status}"
