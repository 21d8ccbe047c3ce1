"""Integration: the relay keeps per-key order with replicas and survives a crash mid-batch."""

import subprocess
import sys
import uuid
from collections import defaultdict

import pytest

from lotus.contracts import Envelope
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import make_consumer, physical_topic
from lotus.messaging.models import OutboxMessage
from lotus.messaging.registry import Outcome
from lotus.messaging.relay import Relay
from lotus.testing import Worker, wait_for, worker_environment
from lotus.tests.support import ECHO, echoes_of, ping, send, write

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]

KEYS = 50
PER_KEY = 20


def publish_round(keys: list[str], sequence: int) -> None:
    write("billing", *(ping(str(sequence), key) for key in keys))


def test_1000_messages_over_50_keys_arrive_in_key_order_while_two_relay_replicas_run(kafka_namespace):
    keys = [str(uuid.uuid4()) for _ in range(KEYS)]
    wanted = set(keys)
    reader = make_consumer(f"{kafka_namespace}.order-check-{uuid.uuid4().hex[:6]}")
    reader.subscribe([physical_topic("diagnostics.commands")])
    seen: dict[str, list[int]] = defaultdict(list)
    ids: set[uuid.UUID] = set()

    def read_available() -> int:
        for record in reader.consume(num_messages=1000, timeout=0.2):
            if record.error() or record.key().decode() not in wanted:
                continue  # other tests' records share the topic
            envelope = Envelope.from_bytes(record.value())
            if envelope.correlation_id in wanted and envelope.id not in ids:  # duplicates are allowed, reorders not
                ids.add(envelope.id)
                seen[envelope.correlation_id].append(int(envelope.payload["note"]))
        return len(ids)

    first = Worker(lambda stop: Relay("billing", stop=stop, batch_size=100), name="relay-1")
    second = Worker(lambda stop: Relay("billing", stop=stop, batch_size=100), name="relay-2")
    try:
        with first, second:
            for sequence in range(PER_KEY // 2):
                publish_round(keys, sequence)
            wait_for(lambda: read_available() >= KEYS * 3, timeout=60, message="the first messages")
            first.stop()  # the active replica (or the standby) goes away; the other carries on
            for sequence in range(PER_KEY // 2, PER_KEY):
                publish_round(keys, sequence)
            wait_for(lambda: read_available() >= KEYS * PER_KEY, timeout=60, message="all 1,000 messages")
    finally:
        reader.close()
    assert len(ids) == KEYS * PER_KEY
    for key in keys:
        assert seen[key] == list(range(PER_KEY)), f"key {key} arrived out of order: {seen[key]}"
    assert not OutboxMessage.objects.using("billing").filter(sent_at__isnull=True).exists()


def test_a_relay_killed_after_producing_but_before_marking_sent_causes_one_effect(kafka_namespace):
    envelope = send("delivery", "crash", str(uuid.uuid4()))

    crashed = subprocess.run(
        [sys.executable, "-m", "lotus.tests.crash_worker", "relay", "delivery"],
        env=worker_environment("delivery"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    assert "produced" in crashed.stdout
    assert OutboxMessage.objects.using("delivery").get(message_id=envelope.id).sent_at is None

    consumer = Worker(lambda stop: Consumer("orders", ECHO, stop=stop), name="consumer")
    with Worker(lambda stop: Relay("delivery", stop=stop), name="relay"), consumer as running:
        wait_for(
            lambda: OutboxMessage.objects.using("delivery").get(message_id=envelope.id).sent_at,
            timeout=30,
            message="the re-publication",
        )
        # Same key, so same partition: once the marker is applied, both copies were handled.
        marker = send("delivery", "marker", envelope.correlation_id)
        wait_for(lambda: echoes_of(marker.id, alias="orders"), timeout=60, message="the marker applied")
    assert echoes_of(envelope.id, alias="orders") == 1
    assert running.counts[Outcome.DUPLICATE] >= 1


def test_the_relay_plans_its_statements_on_every_run():
    """A generic plan made while the outbox was nearly empty would scan it once it is large."""
    from django.db import connections

    Relay("billing")._plan_each_time()
    with connections["billing"].cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_custom_plan"


def test_a_lease_goes_to_a_standby_only_once_it_expired_on_the_database_clock():
    """The relay lease is a row, not a lock on a connection (a file lock for SQLite before): it
    expires by the database's clock, and its holder notices the loss before its next batch."""
    import time

    from lotus.messaging.lease import Lease, LeaseLost

    leader, standby = Lease("billing", "test-lease", seconds=1.0), Lease("billing", "test-lease", seconds=1.0)
    assert leader.acquire()
    assert not standby.acquire(), "held and not expired"
    assert leader.acquire(), "the holder renews"
    leader.hold()  # half of it left: nothing to do
    time.sleep(1.3)  # the leader froze past the expiry
    assert standby.acquire(), "expired: the standby takes it"
    with pytest.raises(LeaseLost):
        leader.hold()
    standby.release()
    assert leader.acquire(), "released: free at once"
