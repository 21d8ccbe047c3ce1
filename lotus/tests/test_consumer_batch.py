"""Integration: records that arrive together are applied in one transaction, exactly once each.

The records come from the real Kafka and the effects go to the real PostgreSQL; the tests
hand a known set of records to :meth:`Consumer.handle_batch` so the batch is deterministic.
"""

import re
import uuid

import pytest
from confluent_kafka import TopicPartition
from django.db import connections
from django.test.utils import CaptureQueriesContext

from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import make_consumer, physical_topic
from lotus.messaging.models import DeadLetter, InboxMessage, OutboxMessage
from lotus.messaging.registry import Handlers, Outcome
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import Worker, deliver_envelope, wait_for
from lotus.tests import support
from lotus.tests.support import ECHO, TOPIC, echoes_of, fresh_consumer, ping, records_of, send_from_orders

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


def inserts_into(table: str, queries: CaptureQueriesContext) -> int:
    """How many statements insert into ``table`` (alone, or as a part of a ``WITH`` statement)."""
    return sum(bool(re.search(rf'INSERT INTO "?{table}"? ', query["sql"])) for query in queries.captured_queries)


def echo_notes(key: str, *, alias: str) -> list[str]:
    bodies = OutboxMessage.objects.using(alias).filter(key=key).order_by("id").values_list("body", flat=True)
    return [Envelope.from_bytes(body).payload["note"] for body in bodies]


def handle_one_batch(key: str, count: int) -> tuple:
    """The stock consumer handles the first ``count`` records of ``key`` as one batch; return
    it, the records, those it handled and the statements it ran."""
    consumer = fresh_consumer("stock")
    records = records_of(consumer, key, count)
    handled: list = []
    with CaptureQueriesContext(connections["stock"]) as queries:
        consumer.handle_batch(records, handled)
    consumer.kafka.close()
    return consumer, records, handled, queries


def test_a_batch_applies_each_new_message_once_with_one_statement_for_inbox_and_outbox(kafka_namespace):
    key = str(uuid.uuid4())
    first, second = ping("first", key), ping("second", key)
    send_from_orders(first, second, first)  # `first` twice: a relay that re-published
    consumer, records, handled, queries = handle_one_batch(key, 3)

    assert handled == records
    assert consumer.counts[Outcome.APPLIED] == 2
    assert consumer.counts[Outcome.DUPLICATE] == 1
    for envelope in (first, second):
        assert echoes_of(envelope.id, alias="stock") == 1
    assert echo_notes(key, alias="stock") == ["echo:first", "echo:second"]
    assert inserts_into("messaging_inboxmessage", queries) == 1
    assert inserts_into("messaging_outboxmessage", queries) == 1
    (statement,) = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    assert "messaging_inboxmessage" in statement, "one round trip for the inbox and the outbox"
    assert "messaging_outboxmessage" in statement
    assert InboxMessage.objects.using("stock").filter(message_id__in=[first.id, second.id]).count() == 2


def test_a_batch_holding_a_message_applied_before_runs_again_without_it(kafka_namespace):
    key = str(uuid.uuid4())
    first, second, seen_before = ping("first", key), ping("second", key), ping("seen before", key)
    assert deliver_envelope(seen_before, to="stock", handlers=ECHO) is Outcome.APPLIED
    send_from_orders(first, second, first, seen_before)  # `first` twice: a relay that re-published
    consumer, records, handled, queries = handle_one_batch(key, 4)

    assert handled == records
    assert consumer.counts[Outcome.APPLIED] == 2
    assert consumer.counts[Outcome.DUPLICATE] == 2
    for envelope in (first, second, seen_before):
        assert echoes_of(envelope.id, alias="stock") == 1
    assert echo_notes(key, alias="stock") == ["echo:seen before", "echo:first", "echo:second"]
    # The first try found `seen before` in the inbox and was rolled back; the second is the batch
    # without it, still one statement for all its inserts.
    assert inserts_into("messaging_inboxmessage", queries) == 2
    assert inserts_into("messaging_outboxmessage", queries) == 2
    assert InboxMessage.objects.using("stock").filter(message_id__in=[first.id, second.id]).count() == 2


def test_a_failure_in_a_batch_rolls_it_back_and_the_records_are_applied_one_by_one(kafka_namespace):
    attempts = []

    def echo_unless_marked(message: Ping, uow: UnitOfWork) -> None:
        if message.note == "fails in a batch":
            attempts.append(uow.cause.id)
            raise RuntimeError("cannot digest it")
        support.echo(message, uow)

    key = str(uuid.uuid4())
    before, failing, after = ping("before", key), ping("fails in a batch", key), ping("after", key)
    send_from_orders(before, failing, after)
    consumer = fresh_consumer("delivery", max_attempts=2, backoff_seconds=0.01)
    consumer.handlers = Handlers({Ping: echo_unless_marked})
    records = records_of(consumer, key, 3)

    handled: list = []
    consumer.handle_batch(records, handled)
    consumer.kafka.close()

    assert handled == records
    assert attempts == [failing.id, failing.id], "the batch attempt counts as the first of two"
    assert echoes_of(before.id, alias="delivery") == 1
    assert echoes_of(after.id, alias="delivery") == 1
    assert echoes_of(failing.id, alias="delivery") == 0
    assert DeadLetter.objects.using("delivery").get(message_id=failing.id).attempts == 2
    assert consumer.counts[Outcome.APPLIED] == 2
    assert consumer.counts[Outcome.DEAD_LETTERED] == 1


def test_offsets_of_applied_records_are_committed_when_the_consumer_stops(kafka_namespace, monkeypatch):
    monkeypatch.setattr(support, "state", {"poison_fixed": True, "attempts": 0})  # earlier tests' poison applies
    sent = [ping(f"offset {n}", str(uuid.uuid4())) for n in range(5)]
    send_from_orders(*sent)
    group, topic = f"test-offsets-{uuid.uuid4().hex}", physical_topic(TOPIC)
    probe = make_consumer(group)
    partitions = [TopicPartition(topic, p) for p in probe.list_topics(topic, timeout=10).topics[topic].partitions]
    ends = {tp.partition: probe.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}

    # The echoes stay in the outbox (no publisher): the topic must not grow while the test reads its ends.
    with Worker(
        lambda stop: Consumer("billing", ECHO, kafka=make_consumer(group), stop=stop, publisher=None)
    ) as consumer:
        wait_for(lambda: consumer.counts_total() >= sum(ends.values()), timeout=60, message="every record handled")
    assert all(echoes_of(envelope.id, alias="billing") == 1 for envelope in sent)

    committed = {tp.partition: tp.offset for tp in probe.committed(partitions, timeout=10)}
    probe.close()
    assert {p: committed[p] for p, end in ends.items() if end} == {p: end for p, end in ends.items() if end}, (
        "every handled record's offset is committed on stop: a restart redelivers nothing"
    )
