"""A service's handlers: the explicit map of message type → function it reacts to.

Each service's ``handlers.py`` ends with::

    REGISTRY = Handlers({
        ChargeOrder: charge_order,
        RefundOrder: refund_order,
    })

A handler is ``handler(message, context)``. It runs inside the consumer's database
transaction on the service's database, next to the inbox record of the message; it
publishes follow-up messages with ``context.publish(...)``, which sets the correlation
and causation ids and writes them into the same transaction.

Services open their writes with :func:`unit_of_work`: their own transaction when called
from an API view, and simply part of the consumer's transaction when called from a handler
(no savepoint: a failure fails the consumer's batch, which it then replays one by one).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from lotus.contracts import Envelope, Message
from lotus.messaging import outbox
from lotus.topology import alias_for

_consumer = threading.local()


@contextmanager
def consuming() -> Iterator[None]:
    """Mark the current thread as applying messages inside a consumer's transaction."""
    _consumer.active = True
    try:
        yield
    finally:
        _consumer.active = False


def in_consumer() -> bool:
    """Whether this thread is applying messages inside a consumer's transaction."""
    return getattr(_consumer, "active", False)


def unit_of_work(service: str) -> transaction.Atomic:
    """The transaction of one write of ``service`` (see the module docstring)."""
    return transaction.atomic(using=alias_for(service), savepoint=not in_consumer())


@dataclass(frozen=True)
class Context:
    """What a handler knows about the message it handles and the service it runs in."""

    service: str
    envelope: Envelope

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id

    @property
    def message_id(self) -> uuid.UUID:
        return self.envelope.id

    def publish(self, message: Message, *, correlation_id: str | uuid.UUID | None = None) -> Envelope:
        return outbox.publish(
            message,
            service=self.service,
            correlation_id=correlation_id or self.envelope.correlation_id,
            causation_id=self.envelope.id,
        )


Handler = Callable[[Any, Context], None]


class Handlers:
    """An immutable map of message classes to handlers."""

    def __init__(self, routes: Mapping[type[Message], Handler]) -> None:
        self._routes = {cls.type_name(): (cls, handler) for cls, handler in routes.items()}

    def lookup(self, type_name: str) -> tuple[type[Message], Handler] | None:
        return self._routes.get(type_name)

    def topics(self) -> list[str]:
        """Logical topics this service must subscribe to."""
        return sorted({cls.topic for cls, _ in self._routes.values()})

    def message_types(self) -> list[str]:
        return sorted(self._routes)

    def __len__(self) -> int:
        return len(self._routes)
