"""Integration: consumers apply once across crashes, dead-letter poison, and replay it once."""

import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Producer
from django.conf import settings

from lotus.contracts import Envelope
from lotus.messaging.consumer import Consumer
from lotus.messaging.dead_letters import replay
from lotus.messaging.kafka import dead_letter_topic, physical_topic
from lotus.messaging.models import DeadLetter, InboxMessage, OutboxMessage
from lotus.messaging.registry import Outcome
from lotus.testing import Worker, wait_for, worker_environment
from lotus.tests import support
from lotus.tests.support import ECHO, echoes_of, ping, relay_once

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


def send(service: str, *notes: str, key: str) -> list[Envelope]:
    """Pings from ``service``, in order, with ``key`` (so one partition); the relay publishes them."""
    envelopes = [ping(note, key) for note in notes]
    support.write(service, *envelopes)
    return envelopes


def test_a_consumer_killed_after_its_database_commit_but_before_its_offset_commit_applies_once(kafka_namespace):
    key = str(uuid.uuid4())
    (envelope,) = send("billing", "crash-consumer", key=key)
    relay_once("billing")

    crashed = subprocess.run(
        [sys.executable, "-m", "lotus.tests.crash_worker", "consume", "notifications"],
        env={**worker_environment("notifications"), "LOTUS_CRASH_AFTER": str(envelope.id)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    assert InboxMessage.objects.using("notifications").filter(message_id=envelope.id).exists()
    assert echoes_of(envelope.id, alias="notifications") == 1

    (marker,) = send("billing", "marker", key=key)
    relay_once("billing")
    with Worker(lambda stop: Consumer("notifications", ECHO, stop=stop), name="consumer") as consumer:
        wait_for(lambda: echoes_of(marker.id, alias="notifications"), timeout=60, message="the marker applied")
    assert consumer.counts[Outcome.DUPLICATE] >= 1, "the uncommitted message was not redelivered"
    assert echoes_of(envelope.id, alias="notifications") == 1


def test_a_poison_message_is_retried_then_dead_lettered_and_the_partition_moves_on(kafka_namespace, monkeypatch):
    monkeypatch.setattr(support, "state", {"poison_fixed": False, "attempts": 0})
    key = str(uuid.uuid4())
    poison, after = send("orders", "poison-1", "after the poison", key=key)
    relay_once("orders")

    with Worker(lambda stop: Consumer("delivery", ECHO, stop=stop, max_attempts=3, backoff_seconds=0.01)):
        wait_for(lambda: echoes_of(after.id, alias="delivery"), timeout=60, message="the message after the poison")

    assert support.state["attempts"] == 3
    letter = DeadLetter.objects.using("delivery").get(message_id=poison.id)
    assert letter.attempts == 3
    assert "cannot digest poison-1" in letter.error
    assert letter.topic == physical_topic("diagnostics.commands")
    assert echoes_of(poison.id, alias="delivery") == 0
    assert OutboxMessage.objects.using("delivery").filter(topic=dead_letter_topic("delivery")).count() == 1

    support.state["poison_fixed"] = True
    assert replay(letter, service="delivery", handlers=ECHO) is Outcome.APPLIED
    assert replay(letter, service="delivery", handlers=ECHO) is Outcome.DUPLICATE
    assert echoes_of(poison.id, alias="delivery") == 1
    letter.refresh_from_db(using="delivery")
    assert letter.replayed_at is not None


@pytest.mark.parametrize("first", ["before it", "poison-2"], ids=["rejected in the batch", "rejected one by one"])
def test_a_rejected_message_is_dead_lettered_at_once_with_its_reason_and_nothing_of_it_applied(
    kafka_namespace, monkeypatch, first
):
    """In a batch, or one by one (after a poison message made the batch go one by one)."""
    monkeypatch.setattr(support, "state", {"poison_fixed": False, "attempts": 0, "refusals": 0})
    key = str(uuid.uuid4())
    before, refused, after = send("orders", first, "refused-1", "after it", key=key)
    relay_once("orders")

    with Worker(lambda stop: Consumer("delivery", ECHO, stop=stop, max_attempts=3, backoff_seconds=0.01)):
        wait_for(lambda: echoes_of(after.id, alias="delivery"), timeout=60, message="the message after it")

    assert support.state["refusals"] == 1, "a rejected message is not retried"
    letter = DeadLetter.objects.using("delivery").get(message_id=refused.id)
    assert letter.attempts == 1
    assert letter.error == "MessageRejected: refused-1 does not match this service's data"
    assert echoes_of(refused.id, alias="delivery") == 0  # what the handler sent before refusing is rolled back
    assert not InboxMessage.objects.using("delivery").filter(message_id=refused.id).exists()
    assert echoes_of(after.id, alias="delivery") == 1
    poisoned = first.startswith(support.POISON)
    assert echoes_of(before.id, alias="delivery") == (0 if poisoned else 1)
    assert support.state["attempts"] == (3 if poisoned else 0)
    assert OutboxMessage.objects.using("delivery").filter(topic=dead_letter_topic("delivery")).count() == 1 + poisoned


def test_malformed_and_unknown_records_are_dead_lettered_at_once_and_do_not_block(kafka_namespace):
    key = str(uuid.uuid4())
    topic = physical_topic("diagnostics.commands")
    unknown = Envelope(type="NoSuchMessage", version=1, correlation_id=key, source="test", payload={})
    producer = Producer({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    producer.produce(topic, key=key, value=b"this is not json")
    producer.produce(topic, key=key, value=unknown.to_json())
    producer.produce(
        topic,
        key=key,
        value=Envelope(type="Ping", version=1, correlation_id=key, source="t", payload={"x": 1}).to_json(),
    )
    assert producer.flush(10) == 0
    (after,) = send("orders", "after the malformed ones", key=key)
    relay_once("orders")

    with Worker(lambda stop: Consumer("stock", ECHO, stop=stop, max_attempts=3, backoff_seconds=0.01)):
        wait_for(lambda: echoes_of(after.id, alias="stock"), timeout=60, message="the message after them")

    letters = DeadLetter.objects.using("stock").filter(key=key)
    errors = sorted(letter.error.split(":")[0] for letter in letters)
    assert len(letters) == 3, errors
    assert any(letter.error.startswith("malformed message") for letter in letters)
    assert any("unknown message type 'NoSuchMessage'" in letter.error for letter in letters)
    assert any("payload is invalid" in letter.error and letter.attempts == 1 for letter in letters)


def test_messages_without_a_handler_in_this_service_are_skipped_not_dead_lettered(kafka_namespace):
    from lotus.messaging.registry import Handlers

    key = str(uuid.uuid4())
    (envelope,) = send("billing", "nobody handles me here", key=key)
    relay_once("billing")
    nobody = Handlers({})
    worker = Worker(lambda stop: Consumer("profiles", nobody, stop=stop), name="consumer")
    worker.instance.topics = lambda: [physical_topic("diagnostics.commands")]
    with worker as consumer:
        wait_for(lambda: consumer.counts[Outcome.IGNORED] >= 1, timeout=60, message="the record skipped")
    assert not DeadLetter.objects.using("default").filter(message_id=envelope.id).exists()
    assert not InboxMessage.objects.using("default").filter(message_id=envelope.id).exists()
