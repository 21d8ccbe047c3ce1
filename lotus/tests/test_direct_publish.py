"""Integration: a consumer publishes its batch's outbox rows itself after the commit, and the
relay publishes only what it could not, keeping each key's order (real Kafka and PostgreSQL)."""

import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import connections, transaction
from django.utils import timezone

from lotus.contracts import Envelope
from lotus.messaging.models import OutboxMessage
from lotus.messaging.outbox import NOTIFY_CHANNEL, physical_topic, publish_envelope
from lotus.messaging.relay import Relay, Row, unclaimed
from lotus.testing import lotus_override
from lotus.tests.test_consumer_batch import TOPIC, fresh_consumer, ping, records_of, send_from_orders

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


def records_with(consumer, *keys: str) -> list:
    """The first record of each key, in the order of ``keys``, straight from Kafka."""
    consumer.kafka.subscribe(consumer.topics())
    found, deadline = {}, time.monotonic() + 60
    while len(found) < len(keys):
        assert time.monotonic() < deadline, f"only {len(found)} of {len(keys)} records arrived"
        record = consumer.kafka.poll(0.5)
        if record is not None and not record.error() and record.key().decode() in keys:
            found.setdefault(record.key().decode(), record)
    return [found[key] for key in keys]


def echo_rows(key: str, *, alias: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.using(alias).filter(key=key).order_by("id"))


def write(alias: str, key: str, note: str, *, claimed_for: float | None = None) -> OutboxMessage:
    with transaction.atomic(using=alias):
        publish_envelope(ping(note, key), service=alias, topic=physical_topic(TOPIC))
    row = OutboxMessage.objects.using(alias).filter(key=key).latest("id")
    if claimed_for is not None:
        row.claimed_until = timezone.now() + timedelta(seconds=claimed_for)
        row.save(using=alias, update_fields=["claimed_until"])
    return row


def test_a_consumer_publishes_what_its_batch_wrote_and_the_next_batch_marks_it_sent(kafka_namespace):
    key, other = str(uuid.uuid4()), str(uuid.uuid4())
    send_from_orders(ping("hello", key), ping("again", other))
    consumer = fresh_consumer("stock")
    first, second = records_with(consumer, key, other)

    consumer.handle_batch([first], [])
    (echo,) = echo_rows(key, alias="stock")
    assert echo.claimed_until is not None
    assert echo.claimed_until > timezone.now()
    assert echo.sent_at is None, "acknowledged, marked sent by the next statement"
    assert consumer.publisher.acknowledged == [echo.id]
    (arrived,) = records_of(consumer, key, 1)  # no relay ran: the consumer produced it
    assert Envelope.from_bytes(arrived.value()).payload["note"] == "echo:hello"

    consumer.handle_batch([second], [])
    consumer.kafka.close()
    echo.refresh_from_db(using="stock")
    assert echo.sent_at is not None, "the second batch's transaction marked the first one's echo"
    assert [row.sent_at for row in echo_rows(other, alias="stock")] == [None]
    assert consumer.publisher.published == 2


def test_the_relay_skips_claimed_rows_and_holds_back_the_rest_of_their_key(kafka_namespace):
    key, other = str(uuid.uuid4()), str(uuid.uuid4())
    claimed = write("billing", key, "claimed", claimed_for=1.0)
    behind = write("billing", key, "behind the claimed row")
    free = write("billing", other, "another key")
    relay = Relay("billing")

    while relay.publish_once():
        pass
    sent = {row.id: row.sent_at for row in OutboxMessage.objects.using("billing").filter(key__in=[key, other])}
    assert sent[free.id] is not None
    assert sent[claimed.id] is None
    assert sent[behind.id] is None

    time.sleep(1.1)  # the claim lapses: its writer died before publishing
    assert relay.publish_once() == 2
    rows = echo_rows(key, alias="billing")
    assert [row.id for row in rows] == [claimed.id, behind.id]
    assert all(row.sent_at is not None for row in rows)


def test_a_running_relay_sends_held_back_rows_soon_after_their_claimed_row_is_marked_sent(kafka_namespace):
    from lotus.messaging.relay import mark_sent
    from lotus.testing import Worker, wait_for

    key = str(uuid.uuid4())
    claimed = write("billing", key, "claimed", claimed_for=60.0)
    behind = write("billing", key, "given back to the relay")
    with Worker(lambda stop: Relay("billing", stop=stop, poll_seconds=60.0), name="relay") as relay:
        wait_for(lambda: relay.held_back_for is not None, timeout=10, message="the relay holding `behind` back")
        mark_sent("billing", [claimed.id])  # what its publisher does once the broker acknowledged it
        # The relay's poll and the claim are a minute away: the marking's NOTIFY wakes it.
        wait_for(
            lambda: OutboxMessage.objects.using("billing").get(pk=behind.pk).sent_at is not None,
            timeout=10,
            message="the held-back row published",
        )
    assert relay.held_back_for is None


def test_a_key_with_unsent_rows_is_left_to_the_relay(kafka_namespace):
    key, other = str(uuid.uuid4()), str(uuid.uuid4())
    send_from_orders(ping("waits", key), ping("goes", other))
    older = write("delivery", key, "written earlier, not yet relayed")
    consumer = fresh_consumer("delivery")
    records = records_with(consumer, key, other)

    consumer.handle_batch(records, [])
    consumer.kafka.close()

    waiting = echo_rows(key, alias="delivery")[-1]
    assert waiting.id > older.id
    assert waiting.claimed_until is None, "not claimed: the relay sends it after `older`"
    (going,) = echo_rows(other, alias="delivery")
    assert going.claimed_until is not None
    assert consumer.publisher.published == 1
    assert consumer.publisher.acknowledged == [going.id]


@lotus_override("OUTBOX", CLAIM_SECONDS=1.0)
def test_rows_of_a_consumer_that_died_before_publishing_go_out_when_the_claim_lapses(kafka_namespace):
    key = str(uuid.uuid4())
    send_from_orders(ping("orphan", key))
    consumer = fresh_consumer("notifications")
    consumer.publisher.publish = lambda: None  # dies between its commit and the produce
    consumer.handle_batch(records_of(consumer, key, 1), [])
    consumer.kafka.close()
    relay = Relay("notifications")

    assert relay.publish_once() == 0, "claimed: the relay waits"
    time.sleep(1.1)
    assert relay.publish_once() == 1
    (echo,) = echo_rows(key, alias="notifications")
    assert echo.sent_at is not None


def test_a_rolled_back_batch_keeps_the_marks_it_was_carrying(kafka_namespace, monkeypatch):
    key, poison = str(uuid.uuid4()), str(uuid.uuid4())
    send_from_orders(ping("fine", key), ping("boom", poison))
    consumer = fresh_consumer("billing", max_attempts=1, backoff_seconds=0.01)
    fine, boom = records_with(consumer, key, poison)
    consumer.handle_batch([fine], [])
    (echo,) = echo_rows(key, alias="billing")
    assert consumer.publisher.acknowledged == [echo.id]

    claim = consumer.publisher.claim

    def fail_after_the_mark(rows):
        claim(rows)  # the UPDATE that marks `echo` sent runs in the batch transaction...
        raise RuntimeError("...and the batch fails after it")

    monkeypatch.setattr(consumer.publisher, "claim", fail_after_the_mark)
    consumer.handle_batch([boom], [])
    consumer.kafka.close()
    echo.refresh_from_db(using="billing")
    assert echo.sent_at is None, "rolled back with the batch"
    assert consumer.publisher.acknowledged == [echo.id], "so the mark is still owed"
    consumer.publisher.mark_sent()
    echo.refresh_from_db(using="billing")
    assert echo.sent_at is not None


def listen(alias: str) -> psycopg.Connection:
    settings_dict = connections[alias].settings_dict
    listener = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        autocommit=True,
    )
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return listener


def test_rows_given_back_to_the_relay_wake_it_and_one_statement_claims_the_rest(kafka_namespace):
    from django.test.utils import CaptureQueriesContext

    if connections["delivery"].vendor != "postgresql":
        pytest.skip("the claim travels in the insert statement on PostgreSQL only")
    key, other = str(uuid.uuid4()), str(uuid.uuid4())
    send_from_orders(ping("waits", key), ping("goes", other))
    write("delivery", key, "written earlier, not yet relayed")
    consumer = fresh_consumer("delivery")
    records = records_with(consumer, key, other)
    listener = listen("delivery")
    try:
        with CaptureQueriesContext(connections["delivery"]) as queries:
            consumer.handle_batch(records, [])
        consumer.kafka.close()
        assert [note.channel for note in listener.notifies(timeout=2, stop_after=1)] == [NOTIFY_CHANNEL]
    finally:
        listener.close()
    outbox_statements = [q["sql"] for q in queries.captured_queries if "messaging_outboxmessage" in q["sql"]]
    # One insert that also looks up the waiting keys, one give-back, and the next batch's mark.
    assert len([sql for sql in outbox_statements if "INSERT" in sql]) == 1
    assert echo_rows(key, alias="delivery")[-1].claimed_until is None
    assert echo_rows(other, alias="delivery")[0].claimed_until is not None


def test_only_unclaimed_rows_wake_the_relay():
    if connections["billing"].vendor != "postgresql":
        pytest.skip("the NOTIFY trigger exists on PostgreSQL only")
    listener = listen("billing")
    try:
        claimed = OutboxMessage(message_id=uuid.uuid4(), message_type="Ping", topic="t", key="k", body="{}")
        claimed.claimed_until = timezone.now() + timedelta(seconds=5)
        with transaction.atomic(using="billing"):
            OutboxMessage.objects.using("billing").bulk_create([claimed])
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
        with transaction.atomic(using="billing"):
            OutboxMessage.objects.using("billing").create(
                message_id=uuid.uuid4(), message_type="Ping", topic="t", key="k", body="{}"
            )
        assert [note.channel for note in listener.notifies(timeout=2, stop_after=1)] == [NOTIFY_CHANNEL]
    finally:
        listener.close()


def test_unclaimed_keeps_each_keys_order():
    def row(number: int, key: str, *, claimed: bool = False) -> Row:
        return Row(number, "t", key, "{}", str(uuid.uuid4()), "Ping", claimed)

    rows = [row(1, "a"), row(2, "b", claimed=True), row(3, "a"), row(4, "b"), row(5, "c")]
    assert [found.id for found in unclaimed(rows)] == [1, 3, 5]


def test_a_consumer_starts_even_when_its_producer_finds_no_broker(caplog):
    from lotus.messaging.direct import DirectPublisher
    from lotus.messaging.kafka import make_producer

    publisher = DirectPublisher("billing", "billing", producer=make_producer(**{"bootstrap.servers": "127.0.0.1:1"}))
    publisher.connect(timeout=0.5)
    assert "no broker yet" in caplog.text


def start_a_saga(key: str, note: str) -> None:
    from lotus.contracts.diagnostics import Ping
    from lotus.messaging.outbox import publish_all

    with transaction.atomic(using="orders"):
        publish_all([Ping(note=note)], service="orders", correlation_id=key, fresh_key=True)


def test_a_request_with_a_fresh_key_publishes_its_rows_after_the_commit(kafka_namespace):
    key = str(uuid.uuid4())
    start_a_saga(key, "placed")

    (row,) = echo_rows(key, alias="orders")
    assert row.claimed_until is not None
    assert row.sent_at is not None, "produced, acknowledged and marked by the request itself"
    assert Relay("orders").publish_once() == 0
    (record,) = records_of(fresh_consumer("billing"), key, 1)
    assert Envelope.from_bytes(record.value()).payload["note"] == "placed"


@lotus_override("WEB", PUBLISHES=False)
def test_without_web_publishing_the_relay_sends_a_fresh_key(kafka_namespace):
    key = str(uuid.uuid4())
    start_a_saga(key, "for the relay")

    (row,) = echo_rows(key, alias="orders")
    assert row.claimed_until is None
    assert row.sent_at is None
    from prometheus_client import REGISTRY

    def relayed() -> float:
        return REGISTRY.get_sample_value("lotus_relay_published_total", {"service": "orders"}) or 0.0

    before = relayed()
    assert Relay("orders").publish_once() == 1
    assert relayed() == before + 1
    (record,) = records_of(fresh_consumer("billing"), key, 1)
    assert Envelope.from_bytes(record.value()).payload["note"] == "for the relay"
    assert echo_rows(key, alias="orders")[0].sent_at is not None


@lotus_override("WEB", PUBLISH_WAIT_SECONDS=0.3)
def test_a_request_whose_broker_is_away_leaves_its_rows_claimed_for_the_relay(kafka_namespace, monkeypatch):
    from lotus.messaging import direct
    from lotus.messaging.kafka import make_producer

    monkeypatch.setattr(direct, "_shared_producer", make_producer(**{"bootstrap.servers": "127.0.0.1:1"}))
    key = str(uuid.uuid4())
    start_a_saga(key, "no broker")  # does not raise: the order is placed all the same

    (row,) = echo_rows(key, alias="orders")
    assert row.sent_at is None
    assert row.claimed_until is not None, "the relay publishes it when the claim lapses"
