"""The inbox: ids of the messages a service has applied, the only module that knows its SQL.

A consumer writes the ids of the messages it applied in the same transaction as their effect
(:func:`record_statement`, part of its unit of work's last statement). The insert skips ids
that are there already and returns the new ones: an id missing from what it returns was
applied before, and the unit of work rolls back (a redelivery applies nothing twice).

Ids are kept for ``INBOX["RETENTION_HOURS"]``, longer than Kafka keeps the records
(settings check that), so a redelivery always finds its id (:func:`prune`).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connections
from django.utils import timezone

from lotus.conf import lotus_settings
from lotus.contracts import Envelope
from lotus.db import Statement
from lotus.messaging.models import InboxMessage

TABLE = InboxMessage._meta.db_table


def record_statement(alias: str, applied: list[tuple[Envelope, str]]) -> Statement:
    """The statement that records ``(envelope, topic)`` pairs as applied and returns the ids it
    inserted (those not recorded before)."""
    connection = connections[alias]
    meta = InboxMessage._meta
    message_id, processed_at = meta.get_field("message_id"), meta.get_field("processed_at")
    now = processed_at.get_db_prep_value(timezone.now(), connection)
    values: list[object] = []
    for envelope, topic in applied:
        values += [message_id.get_db_prep_value(envelope.id, connection), envelope.type, topic, now]
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(applied))
    return Statement(
        f"INSERT INTO {TABLE} (message_id, message_type, topic, processed_at) VALUES {rows} "
        "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
        values,
    )


def prune(alias: str) -> int:
    """Delete ids recorded more than ``INBOX["RETENTION_HOURS"]`` ago; return how many."""
    seen_before = timezone.now() - timedelta(hours=lotus_settings.INBOX["RETENTION_HOURS"])
    deleted, _ = InboxMessage.objects.using(alias).filter(processed_at__lt=seen_before).delete()
    return deleted
