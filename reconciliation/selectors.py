"""Reads of the reconciliation results (the default database)."""

from __future__ import annotations

from reconciliation.models import ReconciliationRun


def run_last() -> ReconciliationRun | None:
    return ReconciliationRun.objects.order_by("-started_at", "-id").first()
