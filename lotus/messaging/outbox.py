"""Writing messages into the outbox: the only way a service sends anything.

:func:`publish` must be called inside ``transaction.atomic(using=...)`` on the sending
service's database; the row it writes commits or rolls back with the caller's own changes.
On PostgreSQL a trigger on the outbox table issues ``NOTIFY lotus_outbox`` (migration
``messaging.0003``), which the server delivers only when the transaction commits, so the
relay wakes at once instead of polling.

Rows are written with :func:`lotus.db.insert`: inside a consumer's batch transaction
(:func:`lotus.db.deferred_inserts`) they are collected and written with one ``INSERT`` when
the batch ends, in the order they were published: one statement and one wake-up per batch
instead of one per message.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction

from lotus.contracts import Envelope, Message
from lotus.db import insert
from lotus.messaging.models import OutboxMessage
from lotus.topology import alias_for

#: The channel the outbox trigger notifies on commit (see migration messaging.0003).
NOTIFY_CHANNEL = "lotus_outbox"


class OutboxError(RuntimeError):
    """Publishing was attempted outside a transaction on the service's database."""


def physical_topic(logical: str) -> str:
    """The Kafka topic for a logical topic name, with the deployment's namespace."""
    namespace = settings.LOTUS_KAFKA_NAMESPACE
    return f"{namespace}.{logical}" if namespace else logical


def publish(
    message: Message,
    *,
    service: str,
    correlation_id: str | uuid.UUID,
    causation_id: uuid.UUID | None = None,
) -> Envelope:
    """Queue ``message`` from ``service`` in the caller's transaction and return its envelope."""
    envelope = Envelope.wrap(message, source=service, correlation_id=str(correlation_id), causation_id=causation_id)
    publish_envelope(envelope, service=service, topic=physical_topic(message.topic))
    return envelope


def publish_all(
    messages: list[Message],
    *,
    service: str,
    correlation_id: str | uuid.UUID,
    causation_id: uuid.UUID | None = None,
    fresh_key: bool = False,
) -> list[Envelope]:
    """Queue several messages in order with one statement (a transition's event and command).

    ``fresh_key`` says the correlation id was made in this very transaction (a new order), so
    no older outbox row can share its key: outside a consumer's batch, this process then
    publishes the rows itself right after the commit (``LOTUS_WEB_PUBLISHES``), and the relay
    only if that fails (:func:`lotus.messaging.direct.publish_after_commit`).
    """
    alias = alias_for(service)
    _require_transaction(alias)
    envelopes = [
        Envelope.wrap(message, source=service, correlation_id=str(correlation_id), causation_id=causation_id)
        for message in messages
    ]
    rows = [
        OutboxMessage(
            message_id=envelope.id,
            message_type=envelope.type,
            topic=physical_topic(message.topic),
            key=envelope.correlation_id,
            body=envelope.to_json(),
        )
        for envelope, message in zip(envelopes, messages, strict=True)
    ]
    if fresh_key and settings.LOTUS_WEB_PUBLISHES:
        # Imported here: both modules import this one.
        from lotus.messaging.direct import publish_after_commit
        from lotus.messaging.registry import in_consumer

        if not in_consumer():
            publish_after_commit(alias, rows, service=service)
    insert(rows, using=alias)
    return envelopes


def publish_envelope(envelope: Envelope, *, service: str, topic: str) -> None:
    """Queue an already built envelope on ``topic`` (used for dead letters and tests)."""
    enqueue(
        service=service,
        topic=topic,
        key=envelope.correlation_id,
        body=envelope.to_json(),
        message_id=envelope.id,
        message_type=envelope.type,
    )


def enqueue(*, service: str, topic: str, key: str, body: str, message_id: uuid.UUID, message_type: str) -> None:
    """Write one outbox row in the caller's transaction: the lowest-level way to send."""
    alias = alias_for(service)
    _require_transaction(alias)
    insert(
        [OutboxMessage(message_id=message_id, message_type=message_type, topic=topic, key=key, body=body)], using=alias
    )


def _require_transaction(alias: str) -> None:
    if not transaction.get_connection(alias).in_atomic_block:
        raise OutboxError(f"publish() needs an open transaction: wrap it in transaction.atomic(using={alias!r})")
