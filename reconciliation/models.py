"""The result of each reconciliation run, kept in the default (profiles) database.

The admin's front page and the metrics read the last one; ``manage.py reconcile`` writes one per
run and keeps the newest ``LOTUS_RECONCILE_KEEP_RUNS``. A run stores what it found as JSON (each
disagreement's kind, order id, row and message), so that the record stays readable after the
rows it describes have changed or been pruned.
"""

from django.db import models
from django.utils import timezone


class ReconciliationRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    duration_seconds = models.FloatField(default=0.0)
    grace_seconds = models.FloatField(
        default=0.0, help_text="Messages and transitions younger than this were not judged."
    )
    disagreements = models.JSONField(default=list, blank=True, help_text="[{kind, order_id, row, message, line}, ...]")
    counts = models.JSONField(default=dict, blank=True, help_text="Disagreements by kind.")
    judged = models.JSONField(default=dict, blank=True, help_text="How many of each thing were judged.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconciliation at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.total} disagreement(s)"

    @property
    def total(self) -> int:
        return len(self.disagreements)
