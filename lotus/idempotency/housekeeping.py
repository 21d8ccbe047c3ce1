"""Forgetting Idempotency-Keys: records older than ``IDEMPOTENCY["TTL_HOURS"]`` go.

A key older than that already counts as new (:func:`lotus.idempotency.decorators._claim`
replaces its record); the relay's housekeeping (:meth:`lotus.messaging.relay.Relay.prune`)
deletes the rest, so the table holds about one TTL's worth of requests rather than every
request ever made with a key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from lotus.conf import lotus_settings
from lotus.idempotency.models import IdempotencyRecord


def expired_before() -> datetime:
    """Records created before this are expired."""
    return timezone.now() - timedelta(hours=lotus_settings.IDEMPOTENCY["TTL_HOURS"])


def prune(alias: str) -> int:
    """Delete the expired records of the database ``alias``; return how many."""
    deleted, _ = IdempotencyRecord.objects.using(alias).filter(created_at__lt=expired_before()).delete()
    return deleted
