"""Accounts, their ledger, and the charges of orders.

An account's ledger always sums to its balance: every change of the balance goes through
:meth:`Account.post`, which returns the :class:`LedgerEntry` that the service writes in the
same transaction.
"""

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

    def can_pay(self, amount: Decimal) -> bool:
        return self.balance >= amount

    def post(self, kind: str, amount: Decimal, order_id=None) -> "LedgerEntry":
        """Change the balance by ``amount`` (signed) and return the entry that records it; the
        caller saves both, in one transaction."""
        self.balance += amount
        return LedgerEntry(account=self, kind=kind, amount=amount, order_id=order_id)


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
    """What an order owes: paid at once, or waiting for a top-up; refunded or dropped on cancel."""

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
