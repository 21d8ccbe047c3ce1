"""A service's handlers: the explicit map of message type → function it reacts to.

Each service's ``handlers.py`` ends with::

    REGISTRY = Handlers({
        ChargeOrder: handle_charge_order,
        RefundOrder: handle_refund_order,
    })

A handler is ``handler(message, uow)``: the message (a validated contract) and the consumer's
:class:`~lotus.messaging.unit_of_work.UnitOfWork` for the batch, whose ``send`` makes the
handled message the cause of what the handler sends.

A handler checks what a message claims against the service's own data before it acts, as a
view checks a request: a message that contradicts it (a refund for a charge another account
paid, a reply for an order that never asked for it) is refused with :class:`MessageRejected`.
Nothing of it is applied, and the consumer dead-letters it at once, with the reason.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lotus.contracts import Envelope, Message

if TYPE_CHECKING:
    from lotus.messaging.unit_of_work import UnitOfWork

Handler = Callable[[Any, "UnitOfWork"], None]


class MessageRejected(Exception):
    """A message whose claims do not match the handling service's data: never applied, never
    retried (the data will not change its mind), dead-lettered with this reason."""


class Outcome(enum.Enum):
    """What became of a message a consumer (or an operator's replay) handled."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead-lettered"


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

    def handle(
        self, envelope: Envelope, uow: UnitOfWork, *, topic: str = "", message: Message | None = None
    ) -> Outcome:
        """Run the handler of ``envelope`` in ``uow``, the envelope being handled (opened now
        unless ``message`` is given; :class:`~lotus.contracts.ContractError` if invalid).
        IGNORED when this service has no handler for it."""
        found = self.lookup(envelope.type)
        if found is None:
            return Outcome.IGNORED
        message_class, handler = found
        if message is None:
            message = envelope.open(message_class)
        with uow.handling(envelope, topic=topic):
            handler(message, uow)
        return Outcome.APPLIED
