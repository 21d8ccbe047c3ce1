"""Integration: messages round-trip through the real Kafka broker that the scripts started."""

import uuid

import pytest

from lotus.bootstrap import handlers_for
from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import make_consumer, make_producer, physical_topic
from lotus.messaging.models import InboxMessage, OutboxMessage
from lotus.messaging.relay import Relay
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import Worker, wait_for

pytestmark = pytest.mark.integration


def test_a_record_produced_to_the_broker_comes_back_to_a_consumer(kafka_namespace):
    topic = physical_topic("diagnostics.commands")
    envelope = Envelope.wrap(Ping(note="raw"), source="billing", correlation_id=str(uuid.uuid4()))
    producer = make_producer()
    producer.produce(topic, key=envelope.correlation_id, value=envelope.to_json())
    assert producer.flush(10) == 0

    consumer = make_consumer(f"{kafka_namespace}.raw-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([topic])
    try:

        def received():
            for record in consumer.consume(num_messages=1000, timeout=0.5):
                if not record.error() and record.key() == envelope.correlation_id.encode():
                    return Envelope.from_bytes(record.value())
            return None

        assert wait_for(received, timeout=30, message="the produced record") == envelope
    finally:
        consumer.close()


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_ping_travels_outbox_relay_kafka_consumer_inbox(kafka_namespace):
    with UnitOfWork("billing", publisher=None) as uow:  # the relay publishes it
        (envelope,) = uow.send(Ping(note="round trip"))

    relay = Worker(lambda stop: Relay("billing", stop=stop), name="relay")
    consumer = Worker(lambda stop: Consumer("notifications", handlers_for("notifications"), stop=stop), name="consumer")
    with relay, consumer:
        wait_for(
            lambda: InboxMessage.objects.using("notifications").filter(message_id=envelope.id).exists(),
            timeout=30,
            message="the ping in the notifications inbox",
        )
    row = OutboxMessage.objects.using("billing").get(message_id=envelope.id)
    assert row.sent_at is not None
    assert row.topic == f"{kafka_namespace}.diagnostics.commands"
