"""Handlers and worker subclasses for the messaging tests, importable by worker processes.

The *effect* of a test message is an echo: the handler publishes a follow-up ``Ping`` whose
causation id is the handled message. Counting echoes in the consumer's outbox tells how
many times a message was applied, without looking at logs.

``lotus.tests.crash_worker`` runs relays and consumers in processes that kill themselves
at the worst moment.
"""

from __future__ import annotations

import json
import time
import uuid
import weakref

from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.messaging import outbox
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import make_consumer, physical_topic
from lotus.messaging.models import OutboxMessage
from lotus.messaging.registry import Handlers, MessageRejected
from lotus.messaging.relay import Relay
from lotus.messaging.unit_of_work import UnitOfWork

POISON = "poison"
#: A ping the echo handler rejects, as a service rejects a message that contradicts its data.
REFUSED = "refused"
#: Flipped by a test to "fix the bug" before replaying a dead letter.
state = {"poison_fixed": False, "attempts": 0, "refusals": 0}


def echo(message: Ping, uow: UnitOfWork) -> None:
    if message.note.startswith(POISON) and not state["poison_fixed"]:
        state["attempts"] += 1
        raise RuntimeError(f"cannot digest {message.note}")
    uow.send(Ping(note=f"echo:{message.note}"))
    if message.note.startswith(REFUSED):
        state["refusals"] += 1
        raise MessageRejected(f"{message.note} does not match this service's data")


ECHO = Handlers({Ping: echo})


def echoes_of(message_id: uuid.UUID, *, alias: str) -> int:
    """How many times the message with ``message_id`` was applied by an echo consumer."""
    from lotus.messaging.models import OutboxMessage

    bodies = OutboxMessage.objects.using(alias).filter(message_type="Ping").values_list("body", flat=True)
    return sum(json.loads(body)["causation_id"] == str(message_id) for body in bodies)


# -- sending and reading test records ---------------------------------------------------------
TOPIC = "diagnostics.commands"


def ping(note: str, key: str) -> Envelope:
    """A ping envelope with a chosen key (Kafka key and correlation id)."""
    return Envelope.wrap(Ping(note=note), source="test", correlation_id=key)


def write(service: str, *envelopes: Envelope) -> list[OutboxMessage]:
    """Commit outbox rows for ``envelopes`` (on the diagnostics topic, keyed by their correlation
    ids) in one unit of work of ``service``; the relay publishes them."""
    rows = [
        outbox.forwarded_row(
            topic=physical_topic(TOPIC),
            key=envelope.correlation_id,
            body=envelope.to_json(),
            message_id=envelope.id,
            message_type=envelope.type,
        )
        for envelope in envelopes
    ]
    with UnitOfWork(service, publisher=None) as uow:
        uow.add(*rows)
    return rows


def send(service: str, note: str, key: str) -> Envelope:
    """Commit one ping with ``key`` in ``service``'s outbox; return its envelope."""
    envelope = ping(note, key)
    write(service, envelope)
    return envelope


def relay_once(service: str) -> None:
    """Publish everything in the service's outbox and return (no background relay)."""
    relay = Relay(service)
    while relay.publish_once():
        pass


def send_from_orders(*envelopes: Envelope) -> None:
    write("orders", *envelopes)
    relay_once("orders")


#: Consumers these helpers subscribed already.
_SUBSCRIBED: weakref.WeakSet[Consumer] = weakref.WeakSet()


def subscribe_once(consumer: Consumer) -> None:
    """Subscribe ``consumer`` to its topics unless done already: subscribing again rebalances
    its group, and a round-robin (eager) rebalance revokes every partition and starts again from
    the committed offsets, so records read but not committed would come again."""
    if consumer not in _SUBSCRIBED:
        consumer.kafka.subscribe(consumer.topics())
        _SUBSCRIBED.add(consumer)


def records_of(consumer: Consumer, key: str, count: int) -> list:
    """The first ``count`` records with ``key`` on the consumer's topics, straight from Kafka."""
    subscribe_once(consumer)
    found, deadline = [], time.monotonic() + 60
    while len(found) < count:
        assert time.monotonic() < deadline, f"only {len(found)} of {count} records arrived"
        record = consumer.kafka.poll(0.5)
        if record is not None and not record.error() and record.key() == key.encode():
            found.append(record)
    return found


def records_with(consumer: Consumer, *keys: str) -> list:
    """The first record of each key, in the order of ``keys``, straight from Kafka."""
    subscribe_once(consumer)
    found, deadline = {}, time.monotonic() + 60
    while len(found) < len(keys):
        assert time.monotonic() < deadline, f"only {len(found)} of {len(keys)} records arrived"
        record = consumer.kafka.poll(0.5)
        if record is not None and not record.error() and record.key().decode() in keys:
            found.setdefault(record.key().decode(), record)
    return [found[key] for key in keys]


def fresh_consumer(service: str, **options) -> Consumer:
    """An echo consumer of ``service`` in a consumer group of its own."""
    return Consumer(service, ECHO, kafka=make_consumer(f"test-batch-{uuid.uuid4().hex}"), **options)
