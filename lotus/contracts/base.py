"""The building blocks of every message: :class:`Command`, :class:`Event` and :class:`Envelope`.

A message is a small frozen pydantic model. Its fields are validated when it is built
(that is, before it is published) and again when a consumer opens the envelope. A
*command* asks one service to do something and travels on that service's
``<service>.commands`` topic; an *event* says what a service did and travels on its
``<service>.events`` topic. Subclasses name the service in their class statement::

    class ReserveStock(Command, service="stock"):
        order_id: UUID
        product_id: int

The wire format is the :class:`Envelope`: identity, type and version, times, the
correlation id (the saga's order id, also the Kafka key) and the causation id (the
message that caused this one), with the message's fields as ``payload``. When tracing is on,
``traceparent`` holds the W3C trace context of the span that sent the message
(``00-<trace id>-<span id>-<flags>``, :mod:`lotus.tracing`), committed with the outbox row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["Command", "ContractError", "Envelope", "Event", "Message", "ValidationError"]


class ContractError(ValueError):
    """A message does not match its contract (unknown type, wrong version, bad payload)."""


class Message(BaseModel):
    """Base of every command and event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Logical topic (without the deployment's namespace), set by ``service=`` on subclasses.
    topic: ClassVar[str]
    #: Bumped when a field changes incompatibly; consumers refuse other versions.
    version: ClassVar[int] = 1
    kind: ClassVar[str] = "message"
    #: The field whose value is the message's correlation id and Kafka key: the saga it belongs
    #: to. None: the message belongs to whatever caused it (or starts a conversation of its own).
    key_field: ClassVar[str | None] = "order_id"

    def __init_subclass__(cls, *, service: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if service is not None:
            cls.topic = f"{service}.{cls.kind}s"

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    def key(self) -> str | None:
        """The value of :attr:`key_field` as text, or None when the message has no key field."""
        return None if self.key_field is None else str(getattr(self, self.key_field))


class Command(Message):
    kind: ClassVar[str] = "command"


class Event(Message):
    kind: ClassVar[str] = "event"


class Envelope(BaseModel):
    """What travels on Kafka: a message plus the metadata every hop needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str
    causation_id: uuid.UUID | None = None
    source: str
    payload: dict[str, Any]
    #: The sender's trace context (W3C ``traceparent``); None when tracing is off. Not checked
    #: here: a malformed one starts a new trace rather than refusing the message.
    traceparent: str | None = Field(default=None, max_length=128)

    @classmethod
    def wrap(
        cls,
        message: Message,
        *,
        source: str,
        correlation_id: str,
        causation_id: uuid.UUID | None = None,
        traceparent: str | None = None,
    ) -> Envelope:
        if not isinstance(message, Message):
            raise ContractError(f"{type(message).__name__} is not a lotus message")
        return cls(
            type=message.type_name(),
            version=message.version,
            correlation_id=str(correlation_id),
            causation_id=causation_id,
            source=source,
            payload=message.model_dump(mode="json"),
            traceparent=traceparent,
        )

    def open(self, message_class: type[Message]) -> Message:
        """Validate the payload against ``message_class`` and return the message."""
        if self.type != message_class.type_name():
            raise ContractError(f"envelope holds {self.type}, not {message_class.type_name()}")
        if self.version != message_class.version:
            raise ContractError(
                f"{self.type} version {self.version} is not supported (expected {message_class.version})"
            )
        try:
            return message_class.model_validate(self.payload)
        except ValidationError as exc:
            raise ContractError(f"{self.type} payload is invalid: {exc}") from exc

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_bytes(cls, raw: bytes | str | None) -> Envelope:
        if not raw:
            raise ContractError("empty message")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise ContractError(f"not a lotus envelope: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}") from exc
