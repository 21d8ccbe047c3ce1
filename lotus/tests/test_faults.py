"""Integration: relays, consumers and the deadline checker keep running through faults of the
database and the broker (real PostgreSQL and Kafka). Each test names the item of issue 12
that it guards."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connections
from django.utils import timezone

from lotus import metrics
from lotus.conf import lotus_settings
from lotus.contracts import Envelope
from lotus.contracts.diagnostics import Ping
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import make_consumer, physical_topic
from lotus.messaging.models import DeadLetter, OutboxMessage
from lotus.messaging.outbox import replay_parked
from lotus.messaging.producer import Produced, Publisher
from lotus.messaging.registry import Handlers
from lotus.messaging.relay import Relay
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import Worker, wait_for, worker_environment
from lotus.tests import support
from lotus.tests.support import echo, ping, send_from_orders

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def write(alias: str, key: str, note: str = "x", *, topic: str | None = None, body: str | None = None) -> int:
    (row,) = support.write(alias, ping(note, key))
    if topic is not None:
        OutboxMessage.objects.using(alias).filter(pk=row.pk).update(topic=topic)
    if body is not None:
        OutboxMessage.objects.using(alias).filter(pk=row.pk).update(body=body)
    return row.pk


def sent(alias: str, row_id: int) -> bool:
    return OutboxMessage.objects.using(alias).get(pk=row_id).sent_at is not None


def terminate_backends(alias: str, *, only: int | None = None) -> int:
    """Kill every other connection to ``alias``'s database (or the one of backend ``only``),
    as a PostgreSQL restart would."""
    settings_dict = connections[alias].settings_dict
    with psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"],
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        autocommit=True,
    ) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND (%s::int IS NULL OR pid = %s)",
            (only, only),
        ).fetchone()[0]
    if only is None:
        connections[alias].close()  # this thread's own connection was among them
    return killed


# -- item 1: no worker exits on a transient fault -----------------------------------------------
def test_a_relay_survives_its_connections_being_killed_and_publishes_on(kafka_namespace):
    losses = []

    class LosingRelay(Relay):
        def fetch_batch(self):
            if len(losses) < 3 and sent("billing", first):
                losses.append(terminate_own_connection(self.alias))  # the next statement finds it gone
            return super().fetch_batch()

    key = str(uuid.uuid4())
    first = write("billing", key, "before")
    with Worker(lambda stop: LosingRelay("billing", stop=stop), name="relay") as relay:
        wait_for(lambda: sent("billing", first), timeout=15, message="the first row published")
        wait_for(lambda: len(losses) == 3, timeout=30, message="three lost connections")
        for _ in range(3):  # and everything else it holds, the listening connection included
            terminate_backends("billing")
            time.sleep(0.5)
        second = write("billing", key, "after")
        wait_for(lambda: sent("billing", second), timeout=30, message="a row written after the outage published")
        assert relay.published >= 2
    # Worker.stop() re-raises what the relay's thread died of: reaching here means it did not.


def stock_consumer(handler, *, cls: type[Consumer] = Consumer, **options) -> Worker:
    """A stock consumer of a fresh group, applying Pings with ``handler``, in a thread."""
    group = f"test-faults-{uuid.uuid4().hex}"
    return Worker(
        lambda stop: cls("stock", Handlers({Ping: handler}), kafka=make_consumer(group), stop=stop, **options),
        name="consumer",
    )


def terminate_own_connection(alias: str) -> int:
    """Kill this thread's connection to ``alias`` from outside; return its backend's pid."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    terminate_backends(alias, only=pid)
    return pid


def test_a_consumer_that_loses_its_database_while_dead_lettering_carries_on_and_skips_nothing(kafka_namespace):
    poison, healthy = str(uuid.uuid4()), str(uuid.uuid4())
    send_from_orders(ping("poison: always fails", poison), ping("fine", healthy))

    def fails(message: Ping, context) -> None:
        if message.note.startswith("poison"):
            raise ValueError("cannot digest")
        echo(message, context)

    killed = threading.Event()

    class LosingConsumer(Consumer):
        def _dead_letter(self, record, envelope, error, *, attempts):
            if not killed.is_set():
                killed.set()
                terminate_own_connection(self.alias)
            return super()._dead_letter(record, envelope, error, attempts=attempts)

    with stock_consumer(fails, cls=LosingConsumer, max_attempts=1, backoff_seconds=0.01):
        wait_for(
            lambda: DeadLetter.objects.using("stock").filter(key=poison).exists(),
            timeout=60,
            message="the poison message dead-lettered after the outage",
        )
        wait_for(
            lambda: OutboxMessage.objects.using("stock").filter(key=healthy).exists(),
            timeout=30,
            message="the message after it applied",
        )
    assert killed.is_set()
    assert DeadLetter.objects.using("stock").filter(key=poison).count() == 1


def test_the_deadline_checker_survives_a_database_restart_and_stops_cleanly_on_sigterm():
    env = worker_environment("orders") | {"LOTUS_DEADLINE_CHECK_SECONDS": "0.2", "LOTUS_PAYMENT_TIMEOUT": "3600"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "expire_orders", "--loop"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2)
        for _ in range(5):
            terminate_backends("orders")
            time.sleep(0.3)
        time.sleep(1)
        assert process.poll() is None, f"expire_orders exited ({process.returncode}):\n{process.stdout.read()}"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def test_a_worker_process_that_crashed_exits_non_zero_and_one_asked_to_stop_exits_zero():
    from django.core.management.base import CommandError

    from lotus.messaging.workers import run_until_signalled

    def crash() -> None:
        raise RuntimeError("a bug")

    stop = threading.Event()
    with pytest.raises(CommandError) as raised:
        run_until_signalled({"buggy": crash, "idle": lambda: stop.wait(30)}, stop)
    assert raised.value.returncode == 1
    assert "buggy" in str(raised.value)

    calm = threading.Event()
    threading.Timer(0.2, calm.set).start()
    run_until_signalled({"idle": lambda: calm.wait(30)}, calm)  # returns: no error


# -- item 3: the relay's lease is a real lease ----------------------------------------------------
def test_a_standby_relay_takes_over_from_a_frozen_leader_which_then_stops_publishing(kafka_namespace):
    thaw = threading.Event()
    frozen = threading.Event()

    class FreezableRelay(Relay):
        after_thaw = 0

        def publish_once(self) -> int:
            if frozen.is_set() and not thaw.is_set():
                thaw.wait(30)  # SIGSTOP, as seen from inside: the lease row is not renewed meanwhile
                count = super().publish_once()
                FreezableRelay.after_thaw += count
                return count
            return super().publish_once()

    key = str(uuid.uuid4())
    leader = Worker(lambda stop: FreezableRelay("billing", stop=stop, lease_seconds=2.0), name="leader")
    with leader:
        first = write("billing", key, "first")
        wait_for(lambda: sent("billing", first), timeout=15, message="the leader publishing")
        frozen.set()
        time.sleep(0.5)  # the leader is now stuck before its next batch
        standby = Worker(lambda stop: Relay("billing", stop=stop, lease_seconds=2.0), name="standby")
        with standby as second:
            started = time.monotonic()
            row = write("billing", key, "while the leader is frozen")
            wait_for(lambda: sent("billing", row), timeout=15, message="the standby publishing")
            took = time.monotonic() - started
            thaw.set()
            time.sleep(1.0)
            later = write("billing", key, "after the thaw")
            wait_for(lambda: sent("billing", later), timeout=15, message="publishing after the thaw")
            assert second.published >= 2
        assert took < 2.0 + 3.0, f"the standby took {took:.1f} s to take over"
    # The thawed leader had its batch in hand (published at most once more); then it stood by.
    assert FreezableRelay.after_thaw <= 1


# -- item 4: claims use the database's clock ------------------------------------------------------
class SkewedClock:
    """``django.utils.timezone`` as seen by a host whose clock is an hour off."""

    def __init__(self, hours: float) -> None:
        self.offset = timedelta(hours=hours)

    def now(self):
        return timezone.now() + self.offset


def database_now(alias: str):
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def test_claims_are_written_and_read_on_the_database_clock(kafka_namespace, monkeypatch):
    from lotus.messaging import outbox

    monkeypatch.setattr(outbox, "timezone", SkewedClock(hours=+1))
    silent = Publisher("consumer billing", defer_marks=True)
    silent.produce = lambda rows, **_: Produced()  # keeps the row claimed, as a consumer that died would
    before = database_now("billing")
    with UnitOfWork("billing", publisher=silent) as uow:  # as a consumer's batch
        (envelope,) = uow.send(Ping(note="claimed"))
    row = OutboxMessage.objects.using("billing").get(message_id=envelope.id)
    claim = timedelta(seconds=lotus_settings.OUTBOX["CLAIM_SECONDS"])
    assert before + claim - timedelta(seconds=5) <= row.claimed_until <= database_now("billing") + claim, row

    # A relay whose host runs an hour late still sees the claim lapse on time.
    OutboxMessage.objects.using("billing").filter(pk=row.pk).update(
        claimed_until=database_now("billing") - timedelta(seconds=1)
    )
    fetched = [found for found in Relay("billing").fetch_batch() if found.id == row.pk]
    assert fetched
    assert not fetched[0].claimed


# -- item 5: a poison outbox row does not block its service ----------------------------------------
def test_a_row_the_broker_refuses_is_parked_and_other_keys_flow_while_its_key_waits(kafka_namespace):
    poison_key, other_key = str(uuid.uuid4()), str(uuid.uuid4())
    too_large = Envelope.wrap(Ping(note="x" * 2_000_000), source="test", correlation_id=poison_key).to_json()
    poison = write("billing", poison_key, body=too_large)
    behind = write("billing", poison_key, "behind the poison")
    other = write("billing", other_key, "another key")
    parked_before = metrics.RELAY_PARKED.labels("billing")._value.get()

    produced = []

    class CountingRelay(Relay):
        def produce(self, rows):
            produced.extend(row.id for row in rows)
            return super().produce(rows)

    with Worker(lambda stop: CountingRelay("billing", stop=stop, max_attempts=2), name="relay"):
        wait_for(lambda: sent("billing", other), timeout=15, message="the other key's row published")
        wait_for(
            lambda: OutboxMessage.objects.using("billing").get(pk=poison).parked_at is not None,
            timeout=30,
            message="the poison row parked",
        )
        time.sleep(1.0)
        row = OutboxMessage.objects.using("billing").get(pk=poison)
        assert row.attempts == 2
        assert "too large" in row.last_error.lower(), row.last_error
        assert not sent("billing", behind), "a later row of the poison's key waits behind it"
        assert produced.count(poison) == 2, "refused twice, then set aside"
        assert metrics.RELAY_PARKED.labels("billing")._value.get() == parked_before + 1

        # The operator fixes the row and replays it: it goes, and the row behind it follows.
        OutboxMessage.objects.using("billing").filter(pk=poison).update(body=ping("fixed", poison_key).to_json())
        assert replay_parked("billing", [poison]) == 1
        wait_for(lambda: sent("billing", behind), timeout=15, message="the poison's key flowing again")
        assert sent("billing", poison)


def test_a_row_for_a_topic_that_is_gone_is_parked_too(kafka_namespace):
    key = str(uuid.uuid4())
    gone = write("billing", key, topic=physical_topic(f"gone-{uuid.uuid4().hex[:8]}"))
    with Worker(lambda stop: Relay("billing", stop=stop, max_attempts=1), name="relay"):
        wait_for(
            lambda: OutboxMessage.objects.using("billing").get(pk=gone).parked_at is not None,
            timeout=60,
            message="the row for a missing topic parked",
        )
    assert OutboxMessage.objects.using("billing").get(pk=gone).last_error


# -- item 6: deterministic database errors dead-letter --------------------------------------------
def test_a_handler_whose_statement_times_out_every_time_is_dead_lettered(kafka_namespace):
    key = str(uuid.uuid4())
    note = f"slow {key}"
    send_from_orders(ping(note, key))
    calls = []

    def times_out(message: Ping, context) -> None:
        calls.append(message.note)
        if message.note != note:
            return  # earlier tests' records on the topic pass quickly; only this one times out
        with connections["stock"].cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 50")
            cursor.execute("SELECT pg_sleep(1)")

    with stock_consumer(times_out, max_attempts=3, backoff_seconds=0):
        wait_for(
            lambda: DeadLetter.objects.using("stock").filter(key=key).exists(),
            timeout=30,
            message="the statement timeout dead-lettered",
        )
    letter = DeadLetter.objects.using("stock").get(key=key)
    assert letter.attempts == 3
    assert "statement timeout" in letter.error
    assert calls.count(note) == 3  # the topic holds earlier tests' records too


def test_a_lost_connection_is_retried_without_counting_against_the_message(kafka_namespace):
    key = str(uuid.uuid4())
    send_from_orders(ping("survives", key))
    lost = []

    def loses_its_connection_twice(message: Ping, context) -> None:
        if len(lost) < 2:
            lost.append(1)
            with connections["stock"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        echo(message, context)

    with stock_consumer(loses_its_connection_twice, max_attempts=1):
        wait_for(
            lambda: OutboxMessage.objects.using("stock").filter(key=key).exists(),
            timeout=60,
            message="the message applied after two lost connections",
        )
    assert not DeadLetter.objects.using("stock").filter(key=key).exists()


# -- item 10: the relay does not spin while rows wait behind a claim -------------------------------
def test_a_relay_held_back_by_a_claim_waits_for_it_instead_of_polling(kafka_namespace):
    key = str(uuid.uuid4())
    claimed = write("billing", key, "claimed")
    OutboxMessage.objects.using("billing").filter(pk=claimed).update(
        claimed_until=database_now("billing") + timedelta(seconds=3)
    )
    behind = write("billing", key, "behind the claim")
    fetches = []

    class CountingRelay(Relay):
        def fetch_batch(self):
            fetches.append(time.monotonic())
            return super().fetch_batch()

    with Worker(lambda stop: CountingRelay("billing", stop=stop, poll_seconds=60.0), name="relay") as relay:
        wait_for(lambda: relay.held_back_for is not None, timeout=10, message="the relay holding a row back")
        started = len(fetches)
        time.sleep(1.5)
        assert len(fetches) - started <= 1, f"{len(fetches) - started} reads in 1.5 s while held back"
        # Nobody marks the claimed row: when its claim lapses, the relay publishes both, in order.
        wait_for(lambda: sent("billing", behind), timeout=10, message="both published once the claim lapsed")
        assert sent("billing", claimed)
