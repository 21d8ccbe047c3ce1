"""Stored first responses of idempotent requests; the table exists in every service database."""

from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    customer_id = models.BigIntegerField()
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path, query and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "key"], name="one_record_per_customer_key")]
        # The relay's housekeeping deletes by age.
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} of customer {self.customer_id} → {self.status_code}"
