"""A deterministic saga driver: every service's real handlers, inboxes, outboxes and databases,
with the messages carried between them by hand instead of by the relay and Kafka.

:meth:`SagaHarness.run` delivers each new outbox message (in commit order) to every service
whose registry handles its type, with the inbox and the handler in one unit of work as a
consumer applies it (:func:`lotus.testing.deliver_envelope`), until nothing new is produced.
``hold`` keeps matching messages back so a test can cancel, or top up, in between and then
:meth:`release` them: the races of a saga, replayed deterministically. The transport itself
(relay, Kafka, consumers) is covered by the messaging tests and the end-to-end tests.
"""

from __future__ import annotations

from collections.abc import Callable

from lotus.bootstrap import handlers_for
from lotus.contracts import Envelope
from lotus.messaging.models import OutboxMessage
from lotus.testing import deliver_envelope
from lotus.topology import SERVICES, alias_for

Hold = Callable[[Envelope], bool]


class SagaHarness:
    def __init__(self) -> None:
        self.handlers = {service: handlers_for(service) for service in SERVICES}
        self.seen = {service: self._last_id(service) for service in SERVICES}
        self.held: list[Envelope] = []
        self.delivered: list[Envelope] = []

    @staticmethod
    def _last_id(service: str) -> int:
        last = OutboxMessage.objects.using(alias_for(service)).order_by("-id").values_list("id", flat=True).first()
        return last or 0

    def _new_envelopes(self) -> list[Envelope]:
        envelopes = []
        for service in SERVICES:
            rows = OutboxMessage.objects.using(alias_for(service)).filter(id__gt=self.seen[service]).order_by("id")
            for row_id, body in rows.values_list("id", "body"):
                self.seen[service] = row_id
                envelopes.append(Envelope.from_bytes(body))
        return envelopes

    def deliver(self, envelope: Envelope) -> None:
        for service, handlers in self.handlers.items():
            if handlers.lookup(envelope.type) is not None:
                deliver_envelope(envelope, to=service, handlers=handlers)
        self.delivered.append(envelope)

    def run(self, *, hold: Hold | None = None, limit: int = 1000) -> None:
        """Carry messages until the services fall quiet (``hold`` keeps matches back)."""
        for _ in range(limit):
            envelopes = self._new_envelopes()
            if not envelopes:
                return
            for envelope in envelopes:
                if hold is not None and hold(envelope):
                    self.held.append(envelope)
                else:
                    self.deliver(envelope)
        raise AssertionError(f"the saga did not fall quiet within {limit} rounds")

    def release(self, match: Hold | None = None, *, hold: Hold | None = None) -> None:
        """Deliver the held messages that ``match`` (all by default), then run on."""
        released = [envelope for envelope in self.held if match is None or match(envelope)]
        self.held = [envelope for envelope in self.held if envelope not in released]
        for envelope in released:
            self.deliver(envelope)
        self.run(hold=hold)


def of_type(*names: str) -> Hold:
    return lambda envelope: envelope.type in names
