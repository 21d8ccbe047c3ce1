"""Running the checks and recording the result.

:func:`reconcile` only reads (every service's database, see :mod:`reconciliation.checks`);
:func:`run_record` writes the one row a run leaves, a :class:`ReconciliationRun` in the default
(profiles) database, and prunes the oldest beyond ``LOTUS_RECONCILE_KEEP_RUNS``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.utils import timezone

from lotus.conf import lotus_settings
from reconciliation.checks import CHECKS, Disagreement, Evidence, counts
from reconciliation.models import ReconciliationRun

log = logging.getLogger(__name__)


@dataclass
class Report:
    started_at: object
    grace_seconds: float
    duration_seconds: float = 0.0
    disagreements: list[Disagreement] = field(default_factory=list)
    judged: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.disagreements)

    def as_dict(self) -> dict:
        return {
            "started_at": self.started_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "grace_seconds": self.grace_seconds,
            "judged": self.judged,
            "counts": self.counts,
            "total": len(self.disagreements),
            "disagreements": [d.as_dict() for d in self.disagreements],
        }


def reconcile(*, grace: float | None = None) -> Report:
    """Read every service's database and run every check; nothing is written."""
    grace = lotus_settings.RECONCILE["GRACE_SECONDS"] if grace is None else grace
    began = time.monotonic()
    report = Report(started_at=timezone.now(), grace_seconds=grace)
    evidence = Evidence.read(grace=grace)
    for _, check in CHECKS:
        report.disagreements += check(evidence)
    report.judged = {
        "orders": len(evidence.orders),
        "settled_orders": sum(1 for _ in evidence.settled()),
        "accounts": len(evidence.accounts),
        "products": len(evidence.stock),
        "slots": len(evidence.bookings),
        "outbox_rows": len(evidence.sent),
    }
    report.duration_seconds = time.monotonic() - began
    return report


def run_record(*, report: Report) -> ReconciliationRun:
    """Store the run's result (the last one is what the admin and the metrics show)."""
    run = ReconciliationRun.objects.create(
        started_at=report.started_at,
        duration_seconds=report.duration_seconds,
        grace_seconds=report.grace_seconds,
        disagreements=[d.as_dict() for d in report.disagreements],
        counts=report.counts,
        judged=report.judged,
    )
    keep = max(lotus_settings.RECONCILE["KEEP_RUNS"], 1)  # the run just stored is always kept
    stale = ReconciliationRun.objects.order_by("-started_at", "-id").values_list("id", flat=True)[keep:]
    ReconciliationRun.objects.filter(id__in=list(stale)).delete()
    return run
