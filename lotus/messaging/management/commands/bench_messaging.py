"""``manage.py bench_messaging``: one hop's latency and the relay's throughput (a benchmark, not a test).

Runs against the configured databases and Kafka, under a fresh topic namespace so that it
disturbs nothing. Two measurements:

* **hop latency** at low load: messages are published one at a time from billing's outbox;
  a relay (billing) and a consumer (stock) run as threads; the handler notes when it runs.
  Latency = handler start - the publisher's commit, p50/p95/p99 over ``--messages``.
* **relay throughput**: ``--backlog`` rows are committed to the outbox while no relay runs,
  then one relay publishes them; rate = rows / time until the last is marked sent.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from lotus.conf import lotus_settings
from lotus.contracts.diagnostics import Ping
from lotus.messaging.consumer import Consumer
from lotus.messaging.kafka import all_topics, drop_topics, ensure_topics
from lotus.messaging.models import OutboxMessage
from lotus.messaging.registry import Handlers
from lotus.messaging.relay import Relay
from lotus.messaging.unit_of_work import UnitOfWork


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Measure outbox-commit → handler latency and relay throughput on the real PostgreSQL and Kafka."

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=300, help="messages for the latency run")
        parser.add_argument("--backlog", type=int, default=20000, help="outbox rows for the throughput run")

    def handle(self, *args, messages, backlog, **options):
        lotus_settings.change("KAFKA", NAMESPACE=f"bench{uuid.uuid4().hex[:8]}")
        ensure_topics(all_topics())
        try:
            self.measure(messages, backlog)
        finally:
            drop_topics()

    def measure(self, messages: int, backlog: int) -> None:
        vendor = connections["billing"].vendor
        self.stdout.write(f"bench: {vendor} databases, Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS}")
        latencies = self.hop_latency(messages)
        self.stdout.write(
            f"hop latency (outbox commit → handler), {len(latencies)} messages: "
            f"p50 {percentile(latencies, 0.5):.2f} ms, p95 {percentile(latencies, 0.95):.2f} ms, "
            f"p99 {percentile(latencies, 0.99):.2f} ms, mean {statistics.fmean(latencies):.2f} ms"
        )
        rate, seconds = self.relay_throughput(backlog)
        self.stdout.write(f"relay throughput: {backlog} messages in {seconds:.2f} s = {rate:,.0f} messages/s")

    def hop_latency(self, count: int) -> list[float]:
        handled: dict[str, float] = {}
        arrived = threading.Condition()

        def note(message: Ping, uow: UnitOfWork) -> None:
            with arrived:
                handled[message.note] = time.perf_counter()
                arrived.notify_all()

        stop = threading.Event()
        relay = Relay("billing", stop=stop)
        consumer = Consumer("stock", Handlers({Ping: note}), stop=stop)
        threads = [threading.Thread(target=worker.run, daemon=True) for worker in (relay, consumer)]
        for thread in threads:
            thread.start()
        latencies = []
        try:
            self._warm_up(handled, arrived)
            for index in range(count):
                note_id = f"m{index}"
                with UnitOfWork("billing", publisher=None) as uow:
                    uow.send(Ping(note=note_id))
                committed = time.perf_counter()
                with arrived:
                    if not arrived.wait_for(lambda note_id=note_id: note_id in handled, timeout=30):
                        raise RuntimeError(f"message {index} was not handled within 30 s")
                latencies.append((handled[note_id] - committed) * 1000)
                if index % 50 == 49:
                    self.stdout.write(f"  latency run: {index + 1}/{count}")
                time.sleep(0.01)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        return latencies

    def _warm_up(self, handled: dict[str, float], arrived: threading.Condition) -> None:
        """Wait until the consumer has joined its group and a first message went through."""
        self.stdout.write("  warming up (consumer group join)...")
        with UnitOfWork("billing", publisher=None) as uow:
            uow.send(Ping(note="warm-up"))
        with arrived:
            if not arrived.wait_for(lambda: "warm-up" in handled, timeout=60):
                raise RuntimeError("the warm-up message was not handled within 60 s")

    def relay_throughput(self, count: int) -> tuple[float, float]:
        OutboxMessage.objects.using("orders").filter(sent_at__isnull=True).update(sent_at=None)
        chunk = 2000
        for start in range(0, count, chunk):
            with UnitOfWork("orders", publisher=None) as uow:
                uow.send(*(Ping(note=f"t{index}") for index in range(start, min(count, start + chunk))))
            self.stdout.write(f"  backlog: {min(count, start + chunk)}/{count} rows committed")
        pending = OutboxMessage.objects.using("orders").filter(sent_at__isnull=True)
        relay = Relay("orders", stop=threading.Event())
        began = time.perf_counter()
        while relay.publish_once():
            pass
        seconds = time.perf_counter() - began
        if pending.exists():
            raise RuntimeError(f"{pending.count()} rows were left unsent")
        return count / seconds, seconds
