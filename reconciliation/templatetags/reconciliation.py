"""``{% last_reconciliation as run %}``: the last run, for the admin's front page."""

from __future__ import annotations

import logging

from django import template
from django.db import DatabaseError

from reconciliation.models import ReconciliationRun
from reconciliation.selectors import run_last

register = template.Library()
log = logging.getLogger(__name__)

#: Disagreements listed on the front page; the run's own page lists them all.
SHOWN = 20


@register.simple_tag
def last_reconciliation() -> ReconciliationRun | None:
    try:
        run = run_last()
    except DatabaseError as exc:  # the front page must render even when this read fails
        log.warning("admin: last reconciliation run unavailable: %s", exc)
        return None
    if run is not None:
        run.shown = run.disagreements[:SHOWN]
        run.hidden = max(run.total - SHOWN, 0)
    return run
