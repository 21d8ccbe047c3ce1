"""Dead letters: messages a consumer gave up on, kept with their error until an operator acts.

A record that cannot be applied (malformed, an unknown type or version, an invalid payload, a
message its handler rejected, or a handler that failed ``CONSUMER["MAX_ATTEMPTS"]`` times) is
*parked* (:func:`park`): a :class:`~lotus.messaging.models.DeadLetter` row with the error, and a
copy of the record on ``<service>.deadletter`` for whoever watches that topic, written in one
transaction. The consumer then moves on: one bad message never stalls its partition.

After a fix, :func:`replay` applies a dead letter once (the inbox drops it if it was applied
meanwhile) and marks it replayed, in the same transaction.
"""

from __future__ import annotations

import logging
import uuid

from django.utils import timezone

from lotus.contracts import Envelope
from lotus.messaging import outbox
from lotus.messaging.kafka import dead_letter_topic
from lotus.messaging.models import DeadLetter
from lotus.messaging.registry import Handlers, Outcome
from lotus.messaging.unit_of_work import AppliedBefore, UnitOfWork

log = logging.getLogger(__name__)


def park(
    *,
    service: str,
    envelope: Envelope | None,
    error: str,
    attempts: int,
    topic: str,
    partition: int | None,
    offset: int | None,
    key: str,
    body: str,
) -> None:
    """Keep a record the consumer gave up on (``envelope`` None: it was not an envelope)."""
    message_id = envelope.id if envelope else None
    message_type = envelope.type if envelope else ""
    with UnitOfWork(service, publisher=None) as uow:
        uow.insert(
            DeadLetter(
                message_id=message_id,
                message_type=message_type,
                topic=topic,
                partition=partition,
                offset=offset,
                key=key,
                body=body,
                error=error,
                attempts=attempts,
            )
        )
        uow.add(
            outbox.forwarded_row(
                topic=dead_letter_topic(service),
                key=key,
                body=body,
                message_id=message_id or uuid.uuid4(),
                message_type=message_type or "malformed",
            )
        )


def replay(dead_letter: DeadLetter, *, service: str, handlers: Handlers) -> Outcome:
    """Apply a dead letter once (after a fix) and mark it replayed, atomically. Raises what
    the handler raises, or :class:`~lotus.contracts.ContractError`; the letter then stays."""
    envelope = Envelope.from_bytes(dead_letter.body)
    try:
        with UnitOfWork(service) as uow:
            outcome = handlers.handle(envelope, uow, topic=dead_letter.topic)
            _mark_replayed(uow, dead_letter)
    except AppliedBefore:
        with UnitOfWork(service) as uow:
            _mark_replayed(uow, dead_letter)
        return Outcome.DUPLICATE
    return outcome


def _mark_replayed(uow: UnitOfWork, dead_letter: DeadLetter) -> None:
    dead_letter.replayed_at = timezone.now()
    uow.update(dead_letter, ["replayed_at"])
