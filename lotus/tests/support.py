"""Handlers and worker subclasses for the messaging tests, importable by worker processes.

The *effect* of a test message is an echo: the handler publishes a follow-up ``Ping`` whose
causation id is the handled message. Counting echoes in the consumer's outbox tells how
many times a message was applied, without looking at logs.

``lotus.tests.crash_worker`` runs relays and consumers in processes that kill themselves
at the worst moment.
"""

from __future__ import annotations

import json
import uuid

from lotus.contracts.diagnostics import Ping
from lotus.messaging.registry import Handlers
from lotus.messaging.unit_of_work import UnitOfWork

POISON = "poison"
#: Flipped by a test to "fix the bug" before replaying a dead letter.
state = {"poison_fixed": False, "attempts": 0}


def echo(message: Ping, uow: UnitOfWork) -> None:
    if message.note.startswith(POISON) and not state["poison_fixed"]:
        state["attempts"] += 1
        raise RuntimeError(f"cannot digest {message.note}")
    uow.send(Ping(note=f"echo:{message.note}"))


ECHO = Handlers({Ping: echo})


def echoes_of(message_id: uuid.UUID, *, alias: str) -> int:
    """How many times the message with ``message_id`` was applied by an echo consumer."""
    from lotus.messaging.models import OutboxMessage

    bodies = OutboxMessage.objects.using(alias).filter(message_type="Ping").values_list("body", flat=True)
    return sum(json.loads(body)["causation_id"] == str(message_id) for body in bodies)
