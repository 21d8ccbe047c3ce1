"""The outbox table: the only module that knows its SQL.

A service never produces to Kafka inside its transaction: it writes the envelope as a row of
its own database's outbox (:func:`rows_for`, added to a unit of work), which commits or rolls
back with its state change. The relay and the after-commit publisher then read the rows back
(:func:`fetch_unsent`), produce them and mark them sent (:func:`mark_sent`).

On PostgreSQL a trigger on the table issues ``NOTIFY lotus_outbox`` (:data:`NOTIFY_CHANNEL`;
migrations ``messaging.0003`` to ``0005``) when unclaimed rows commit, or when rows are marked
sent or given back while other rows of their key wait: the server delivers it only at commit,
so the relay wakes at once instead of polling.

A row the broker keeps refusing is *parked* (:func:`record_refusal`): set aside with its error,
not fetched any more, and neither are the later rows of its key until an operator replays it
(:func:`replay_parked`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import connections
from django.utils import timezone

from lotus.conf import lotus_settings
from lotus.contracts import Envelope
from lotus.db import DatabaseNow, Statement, one_of
from lotus.messaging.kafka import physical_topic
from lotus.messaging.models import OutboxMessage

#: The channel the outbox trigger notifies on commit.
NOTIFY_CHANNEL = "lotus_outbox"
TABLE = OutboxMessage._meta.db_table


@dataclass(frozen=True)
class Row:
    """An outbox row on its way to Kafka."""

    id: int
    topic: str
    key: str
    body: str
    message_id: str
    message_type: str
    #: Seconds until the row's claim lapses; None when nobody claims it.
    claim_left: float | None = None

    @property
    def claimed(self) -> bool:
        return self.claim_left is not None


def rows_for(envelopes: list[Envelope], *, topics: list[str]) -> list[OutboxMessage]:
    """New outbox rows for ``envelopes``, each on its logical topic in ``topics``; the key is
    the envelope's correlation id."""
    return [
        OutboxMessage(
            message_id=envelope.id,
            message_type=envelope.type,
            topic=physical_topic(topic),
            key=envelope.correlation_id,
            body=envelope.to_json(),
        )
        for envelope, topic in zip(envelopes, topics, strict=True)
    ]


def forwarded_row(*, topic: str, key: str, body: str, message_id: uuid.UUID, message_type: str) -> OutboxMessage:
    """A new outbox row carrying a record as it was received (a dead letter's copy on
    ``topic``, a physical topic), whether or not it is a valid envelope."""
    return OutboxMessage(message_id=message_id, message_type=message_type, topic=topic, key=key, body=body)


def as_row(row: OutboxMessage) -> Row:
    return Row(row.pk, row.topic, row.key, row.body, str(row.message_id), row.message_type)


def fetch_unsent(alias: str, limit: int) -> list[Row]:
    """The oldest unsent rows (at most ``limit``) that are not parked and whose key has no
    parked row, with how long each claim has left (by the database's clock)."""
    connection = connections[alias]
    now, now_params = DatabaseNow().as_sql(connection)
    if connection.vendor == "postgresql":
        left = f"EXTRACT(EPOCH FROM claimed_until - {now})"
    else:
        left = f"(julianday(claimed_until) - julianday({now})) * 86400"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, topic, key, body, message_id, message_type, "
            f"CASE WHEN claimed_until > {now} THEN {left} END FROM {TABLE} o "
            "WHERE sent_at IS NULL AND parked_at IS NULL AND NOT EXISTS ("
            f"SELECT 1 FROM {TABLE} p WHERE p.key = o.key AND p.sent_at IS NULL AND p.parked_at IS NOT NULL) "
            "ORDER BY id LIMIT %s",
            [*now_params, *now_params, limit],
        )
        # SQLite keeps UUIDs as bare hex: normalise the id for the record's header.
        return [
            Row(*values[:4], str(uuid.UUID(str(values[4]))), values[5], None if values[6] is None else float(values[6]))
            for values in cursor.fetchall()
        ]


def mark_sent_statement(alias: str, ids: list[int]) -> Statement:
    """The statement that marks the rows ``ids`` sent."""
    connection = connections[alias]
    now = OutboxMessage._meta.get_field("sent_at").get_db_prep_value(timezone.now(), connection)
    among, params = one_of("id", ids, using=alias)
    return Statement(f"UPDATE {TABLE} SET sent_at = %s WHERE {among}", [now, *params], returns=False)


def mark_sent(alias: str, ids: list[int]) -> None:
    """Mark the rows ``ids`` sent (one statement)."""
    if ids:
        statement = mark_sent_statement(alias, ids)
        with connections[alias].cursor() as cursor:
            cursor.execute(statement.sql, statement.params)


def keys_waiting_statement(alias: str, keys: list[str], *, besides: list[int]) -> Statement:
    """The statement that returns which of ``keys`` have unsent rows, other than ``besides``
    (rows that the same statement marks sent)."""
    key_among, key_params = one_of("key", keys, using=alias)
    id_among, id_params = one_of("id", besides, using=alias)
    return Statement(
        f"SELECT DISTINCT key FROM {TABLE} WHERE sent_at IS NULL AND {key_among} AND NOT ({id_among})",
        [*key_params, *id_params],
    )


def give_back(alias: str, ids: list[int]) -> None:
    """Drop the claim on rows ``ids``: the relay publishes them (the update wakes it)."""
    among, params = one_of("id", ids, using=alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET claimed_until = NULL WHERE {among}", params)


def record_refusal(alias: str, row_id: int, error: str, *, max_attempts: int) -> bool:
    """Count one refusal of a row; park it at ``max_attempts``. True if it was parked."""
    connection = connections[alias]
    now, now_params = DatabaseNow().as_sql(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET attempts = attempts + 1, last_error = %s, "
            f"parked_at = CASE WHEN attempts + 1 >= %s THEN {now} END "
            "WHERE id = %s RETURNING parked_at IS NOT NULL",
            [error, max_attempts, *now_params, row_id],
        )
        found = cursor.fetchone()
    return bool(found and found[0])


def replay_parked(alias: str, ids: list[int] | None = None) -> int:
    """Give parked rows (``ids``, or all) back to the relay with their count of refusals reset;
    return how many. On PostgreSQL the update wakes the relay."""
    rows = OutboxMessage.objects.using(alias).filter(parked_at__isnull=False, sent_at__isnull=True)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    return rows.update(parked_at=None, attempts=0)


def prune(alias: str) -> int:
    """Delete rows sent more than ``OUTBOX["RETENTION_HOURS"]`` ago; return how many."""
    sent_before = timezone.now() - timedelta(hours=lotus_settings.OUTBOX["RETENTION_HOURS"])
    deleted, _ = OutboxMessage.objects.using(alias).filter(sent_at__lt=sent_before).delete()
    return deleted
