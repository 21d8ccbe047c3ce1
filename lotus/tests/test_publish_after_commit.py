"""Integration: a unit of work that owns its transaction publishes its outbox rows itself right
after the commit (a consumer's batch, a web request), and the relay publishes only what it
could not, keeping each key's order (real Kafka and PostgreSQL)."""

import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lotus.contracts import Envelope
from lotus.contracts.orders import OrderPlaced
from lotus.messaging import outbox, producer
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import make_consumer, make_producer
from lotus.messaging.models import OutboxMessage
from lotus.messaging.outbox import NOTIFY_CHANNEL, Row
from lotus.messaging.producer import Produced, Publisher
from lotus.messaging.registry import Handlers
from lotus.messaging.relay import Relay, unclaimed
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import deliver_envelope
from lotus.tests import support
from lotus.tests.support import ECHO, fresh_consumer, ping, records_of, records_with, send_from_orders

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]


def echo_rows(key: str, *, alias: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.using(alias).filter(key=key).order_by("id"))


def write(alias: str, key: str, note: str, *, claimed_for: float | None = None) -> OutboxMessage:
    (row,) = support.write(alias, ping(note, key))
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
    assert Relay("stock").publish_once() == 0, "claimed: the relay leaves it alone"
    (arrived,) = records_of(consumer, key, 1)  # no relay published: the consumer produced it
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
    from lotus.testing import Worker, wait_for

    key = str(uuid.uuid4())
    claimed = write("billing", key, "claimed", claimed_for=60.0)
    behind = write("billing", key, "given back to the relay")
    with Worker(lambda stop: Relay("billing", stop=stop, poll_seconds=60.0), name="relay") as relay:
        wait_for(lambda: relay.held_back_for is not None, timeout=10, message="the relay holding `behind` back")
        outbox.mark_sent("billing", [claimed.id])  # what its publisher does once the broker acknowledged it
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


def test_rows_of_a_consumer_that_died_before_publishing_go_out_when_the_claim_lapses(kafka_namespace, lotus_setting):
    lotus_setting("OUTBOX", CLAIM_SECONDS=1.0)
    key = str(uuid.uuid4())
    send_from_orders(ping("orphan", key))
    consumer = fresh_consumer("notifications")
    consumer.publisher.produce = lambda rows, **_: Produced()  # dies between its commit and the produce
    consumer.handle_batch(records_of(consumer, key, 1), [])
    consumer.kafka.close()
    relay = Relay("notifications")

    assert relay.publish_once() == 0, "claimed: the relay waits"
    time.sleep(1.1)
    assert relay.publish_once() == 1
    (echo,) = echo_rows(key, alias="notifications")
    assert echo.sent_at is not None


def test_a_rolled_back_batch_keeps_the_marks_it_was_carrying_for_the_next_one(kafka_namespace):
    key, seen = str(uuid.uuid4()), str(uuid.uuid4())
    applied_before = ping("applied before", seen)
    send_from_orders(ping("fine", key), applied_before)
    assert deliver_envelope(applied_before, to="billing", handlers=ECHO).value == "applied"
    consumer = fresh_consumer("billing")
    fine, again = records_with(consumer, key, seen)
    consumer.handle_batch([fine], [])
    (echo,) = echo_rows(key, alias="billing")
    assert echo.sent_at is None

    # The next batch's statement marks `echo` sent and finds `again` in the inbox: it rolls back,
    # the mark with it, and the batch runs again without `again`, marking `echo` this time.
    with CaptureQueriesContext(connections["billing"]) as queries:
        consumer.handle_batch([again], [])
    consumer.kafka.close()
    marks = [q["sql"] for q in queries.captured_queries if "SET sent_at" in q["sql"]]
    assert len(marks) == 2, "marked, rolled back, marked again"
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
        return Row(number, "t", key, "{}", str(uuid.uuid4()), "Ping", 1.0 if claimed else None)

    rows = [row(1, "a"), row(2, "b", claimed=True), row(3, "a"), row(4, "b"), row(5, "c")]
    assert [found.id for found in unclaimed(rows)] == [1, 3, 5]


def test_a_consumer_starts_even_when_its_producer_finds_no_broker(caplog):
    publisher = Publisher("consumer billing", client=make_producer(**{"bootstrap.servers": "127.0.0.1:1"}))
    publisher.connect(timeout=0.5)
    assert "no broker yet" in caplog.text


def start_a_saga(key: str) -> None:
    """What a web request does: a unit of work of its own, with the process's publisher."""
    with UnitOfWork("orders") as uow:
        uow.send(OrderPlaced(order_id=key, customer_id=1, product_id=1, price=10))


def records_of_orders(key: str) -> list:
    reader = Consumer("billing", Handlers({OrderPlaced: support.echo}), kafka=make_consumer(f"test-{uuid.uuid4().hex}"))
    return records_of(reader, key, 1)


def test_a_request_with_a_fresh_key_publishes_its_rows_after_the_commit(kafka_namespace):
    key = str(uuid.uuid4())
    start_a_saga(key)

    (row,) = echo_rows(key, alias="orders")
    assert row.claimed_until is not None
    assert row.sent_at is not None, "produced, acknowledged and marked by the request itself"
    assert Relay("orders").publish_once() == 0
    (record,) = records_of_orders(key)
    assert Envelope.from_bytes(record.value()).payload["order_id"] == key


def test_without_web_publishing_the_relay_sends_a_fresh_key(kafka_namespace, lotus_setting):
    lotus_setting("WEB", PUBLISHES=False)
    key = str(uuid.uuid4())
    start_a_saga(key)

    (row,) = echo_rows(key, alias="orders")
    assert row.claimed_until is None
    assert row.sent_at is None
    from prometheus_client import REGISTRY

    def relayed() -> float:
        return REGISTRY.get_sample_value("lotus_relay_published_total", {"service": "orders"}) or 0.0

    before = relayed()
    assert Relay("orders").publish_once() == 1
    assert relayed() == before + 1
    (record,) = records_of_orders(key)
    assert Envelope.from_bytes(record.value()).payload["order_id"] == key
    assert echo_rows(key, alias="orders")[0].sent_at is not None


def test_a_request_whose_broker_is_away_leaves_its_rows_claimed_for_the_relay(kafka_namespace, settings, monkeypatch):
    away = Publisher("web", client=make_producer(**{"bootstrap.servers": "127.0.0.1:1"}), timeout=0.3)
    monkeypatch.setattr(producer, "_web", away)
    key = str(uuid.uuid4())
    start_a_saga(key)  # does not raise: the order is placed all the same

    (row,) = echo_rows(key, alias="orders")
    assert row.sent_at is None
    assert row.claimed_until is not None, "the relay publishes it when the claim lapses"
