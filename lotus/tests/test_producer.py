"""Integration: the producer sends outbox rows to the real Kafka in order, and says which ones
made it; a refused row holds back the later rows of its key only."""

import uuid

import pytest

from lotus.contracts import Envelope
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import make_consumer, physical_topic
from lotus.messaging.outbox import Row
from lotus.messaging.producer import Publisher
from lotus.tests.support import ECHO, TOPIC, ping, records_of

pytestmark = [pytest.mark.integration]


def row(number: int, key: str, note: str, *, body: str | None = None) -> Row:
    envelope = ping(note, key)
    return Row(number, physical_topic(TOPIC), key, body or envelope.to_json(), str(envelope.id), envelope.type)


def reader() -> Consumer:
    return Consumer("stock", ECHO, kafka=make_consumer(f"test-producer-{uuid.uuid4().hex}"))


def test_rows_arrive_in_order_with_their_headers_and_all_are_delivered(kafka_namespace):
    key = str(uuid.uuid4())
    rows = [row(n, key, f"n{n}") for n in range(1, 6)]

    produced = Publisher("test").produce(rows)

    assert [found.id for found in produced.delivered] == [1, 2, 3, 4, 5]
    assert produced.errors == {}
    records = records_of(reader(), key, 5)
    assert [Envelope.from_bytes(record.value()).payload["note"] for record in records] == [f"n{n}" for n in range(1, 6)]
    headers = dict(records[0].headers())
    assert headers == {"type": b"Ping", "id": rows[0].message_id.encode(), "correlation_id": key.encode()}


def test_a_refused_row_holds_back_its_key_and_no_other(kafka_namespace):
    stuck, flowing = str(uuid.uuid4()), str(uuid.uuid4())
    too_large = "x" * 2_000_000
    rows = [
        row(1, stuck, "before"),
        row(2, stuck, "refused", body=too_large),
        row(3, flowing, "other key"),
        row(4, stuck, "behind the refused row"),
    ]

    produced = Publisher("test").produce(rows)

    assert [found.id for found in produced.delivered] == [1, 3], "nothing of the stuck key after the refusal"
    assert set(produced.errors) == {2}
    assert "too large" in produced.errors[2].lower()
    assert [Envelope.from_bytes(r.value()).payload["note"] for r in records_of(reader(), stuck, 1)] == ["before"]


def test_a_broker_that_does_not_answer_delivers_nothing_and_raises_nothing():
    from lotus.messaging.kafka import make_producer

    away = Publisher("test", client=make_producer(**{"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 500}))
    produced = away.produce([row(1, "k", "lost")], timeout=2)
    assert produced.delivered == []
    assert away.broker_answers() is False
