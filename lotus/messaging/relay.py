"""The relay: publishes a service's committed outbox rows to Kafka, in order, exactly as written.

One relay per service is *active* at a time: it holds the service's lease (a PostgreSQL
advisory lock, or a file lock for SQLite). Further replicas wait on the lease and take
over when the active one dies, so replicas add availability without ever reordering a key.

The active relay loops: read the oldest unsent rows (a batch), produce them with an
idempotent producer, wait for the broker's acknowledgements, and mark sent the rows up to
the first that failed. A crash between produce and mark re-publishes those rows later;
consumers drop the duplicates by message id. When the outbox is empty it sleeps until a
``NOTIFY lotus_outbox`` arrives (PostgreSQL) or the poll interval passes.

Rows a consumer publishes itself after its commit (:mod:`lotus.messaging.direct`) carry a
claim (``claimed_until``). The relay skips a claimed row until its claim lapses, and holds
back every later row with the same key meanwhile, so that a key's messages still leave in
the order they were written; if the consumer died before publishing, the relay publishes
its rows once their claims lapse.

Public hooks for subclasses and tests: :meth:`Relay.fetch_batch`, :meth:`Relay.produce`,
:meth:`Relay.mark_sent`, :meth:`Relay.prune`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
from confluent_kafka import KafkaError, Producer
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from lotus import metrics
from lotus.messaging.kafka import make_producer
from lotus.messaging.models import InboxMessage, OutboxMessage
from lotus.messaging.outbox import NOTIFY_CHANNEL
from lotus.topology import alias_for

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0
BLOCKED_RECHECK_SECONDS = 0.02
OUTBOX = OutboxMessage._meta.db_table


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    key: str
    body: str
    message_id: str
    message_type: str
    claimed: bool = False


class Relay:
    """Publishes one service's outbox. Call :meth:`run` in a thread or process of its own."""

    def __init__(
        self,
        service: str,
        *,
        producer: Producer | None = None,
        stop: threading.Event | None = None,
        batch_size: int | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.service = service
        self.alias = alias_for(service)
        self.producer = producer or make_producer()
        self.stop = stop or threading.Event()
        self.batch_size = batch_size or settings.LOTUS_RELAY_BATCH_SIZE
        self.poll_seconds = poll_seconds if poll_seconds is not None else settings.LOTUS_RELAY_POLL_SECONDS
        self.published = 0
        self.blocked = False  # the last batch had unclaimed rows held back behind a claimed one
        self._last_prune = 0.0

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with _lease_for(self.alias, self.stop) as waker:
                    if waker is None:
                        return
                    log.info("relay %s: active", self.service)
                    self._plan_each_time()
                    self._loop(waker)
            except (psycopg.Error, OSError) as exc:
                log.warning("relay %s: %s; reconnecting in 1 s", self.service, exc)
                close_old_connections()
                self.stop.wait(1.0)

    def _loop(self, waker: _Waker) -> None:
        while not self.stop.is_set():
            sent = self.publish_once()
            self._maybe_prune()
            if sent < self.batch_size:
                # Rows held back behind a claimed row wait for its publisher to mark it sent,
                # which sends no NOTIFY: look again soon rather than at the next poll.
                waker.wait(BLOCKED_RECHECK_SECONDS if self.blocked else self.poll_seconds, self.stop)

    def _plan_each_time(self) -> None:
        """Plan the relay's statements on every run, even prepared ones. A generic plan made
        while the outbox is nearly empty (a fresh deployment) scans the whole table; the
        outbox then grows, and marking rows sent would scan it every time."""
        connection = connections[self.alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET plan_cache_mode = force_custom_plan")

    def publish_once(self) -> int:
        """Publish one batch; return how many rows were marked sent."""
        fetched = self.fetch_batch()
        rows = unclaimed(fetched)
        self.blocked = sum(not row.claimed for row in fetched) > len(rows)
        if not rows:
            return 0
        with metrics.RELAY_BATCH_SECONDS.labels(self.service).time():
            delivered = self.produce(rows)
            if delivered:
                self.mark_sent(delivered)
        self.published += len(delivered)
        metrics.RELAY_PUBLISHED.labels(self.service).inc(len(delivered))
        if len(delivered) < len(rows):
            log.warning(
                "relay %s: %d of %d not acknowledged; retrying", self.service, len(rows) - len(delivered), len(rows)
            )
            self.stop.wait(0.5)
        return len(delivered)

    # -- hooks ------------------------------------------------------------------------------
    # The loop's two statements are plain SQL: the ORM would cost more than the database here.
    def fetch_batch(self) -> list[Row]:
        connection = connections[self.alias]
        now = OutboxMessage._meta.get_field("claimed_until").get_db_prep_value(timezone.now(), connection)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, topic, key, body, message_id, message_type, "
                f"CASE WHEN claimed_until > %s THEN 1 ELSE 0 END FROM {OUTBOX} "
                "WHERE sent_at IS NULL ORDER BY id LIMIT %s",
                [now, self.batch_size],
            )
            # SQLite keeps UUIDs as bare hex: normalise the id for the record's header.
            return [
                Row(*values[:4], str(uuid.UUID(str(values[4]))), values[5], bool(values[6]))
                for values in cursor.fetchall()
            ]

    def produce(self, rows: list[Row]) -> list[Row]:
        """Produce ``rows``; return the leading run of rows the broker acknowledged."""
        return produce_rows(self.producer, rows, who=f"relay {self.service}")

    def mark_sent(self, rows: list[Row]) -> None:
        mark_sent(self.alias, [row.id for row in rows])

    def prune(self) -> int:
        """Delete sent outbox rows past ``LOTUS_OUTBOX_RETENTION_HOURS`` and inbox records past
        ``LOTUS_INBOX_RETENTION_HOURS``; return how many rows went. The inbox must outlive
        every redelivery (the topics' retention), or a late duplicate would apply again."""
        now = timezone.now()
        sent_before = now - timedelta(hours=settings.LOTUS_OUTBOX_RETENTION_HOURS)
        seen_before = now - timedelta(hours=settings.LOTUS_INBOX_RETENTION_HOURS)
        sent, _ = OutboxMessage.objects.using(self.alias).filter(sent_at__lt=sent_before).delete()
        seen, _ = InboxMessage.objects.using(self.alias).filter(processed_at__lt=seen_before).delete()
        return sent + seen

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            pruned = self.prune()
            if pruned:
                log.info("relay %s: pruned %d sent outbox and old inbox rows", self.service, pruned)


def unclaimed(rows: list[Row]) -> list[Row]:
    """The rows the relay may publish now: not claimed, and no earlier row of theirs held back
    (a key's rows leave in the order they were written)."""
    held: set[str] = set()
    ready = []
    for row in rows:
        if row.claimed or row.key in held:
            held.add(row.key)
        else:
            ready.append(row)
    return ready


def produce_rows(producer: Producer, rows: list[Row], *, who: str, timeout: float = 30.0) -> list[Row]:
    """Produce ``rows`` in order and wait for the broker; return the leading run of rows it
    acknowledged (rows after a failed one are not acknowledged, even if they were stored)."""
    failed: dict[int, KafkaError] = {}
    acked: set[int] = set()

    def on_delivery(row_id: int):
        def callback(error: KafkaError | None, _message: object) -> None:
            (failed.__setitem__(row_id, error) if error else acked.add(row_id))

        return callback

    for row in rows:
        headers = [("type", row.message_type), ("id", str(row.message_id)), ("correlation_id", row.key)]
        while True:
            try:
                producer.produce(
                    row.topic, value=row.body, key=row.key, headers=headers, on_delivery=on_delivery(row.id)
                )
                break
            except BufferError:
                producer.poll(0.1)
    remaining = producer.flush(timeout)
    if remaining:
        log.warning("%s: %d messages still in flight after %s s", who, remaining, timeout)
    for row_id, error in failed.items():
        log.error("%s: outbox row %s not published: %s", who, row_id, error)
    delivered = []
    for row in rows:
        if row.id not in acked:
            break
        delivered.append(row)
    return delivered


def mark_sent(alias: str, ids: list[int]) -> None:
    """Mark the outbox rows ``ids`` of ``alias`` sent (one statement)."""
    connection = connections[alias]
    now = OutboxMessage._meta.get_field("sent_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"UPDATE {OUTBOX} SET sent_at = %s WHERE id = ANY(%s)", [now, ids])
        else:
            cursor.execute(
                f"UPDATE {OUTBOX} SET sent_at = %s WHERE id IN ({', '.join(['%s'] * len(ids))})", [now, *ids]
            )


# -- leases and wake-ups --------------------------------------------------------------------
class _Waker:
    def wait(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)


class _PostgresWaker(_Waker):
    def __init__(self, connection: psycopg.Connection) -> None:
        self.connection = connection

    def wait(self, timeout: float, stop: threading.Event) -> None:
        deadline = time.monotonic() + timeout
        # In slices, so that a stop request is seen within half a second even on a long poll.
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if any(True for _ in self.connection.notifies(timeout=min(left, 0.5), stop_after=1)):
                break
        # Drain NOTIFYs that piled up meanwhile: the next batch reads every committed row.
        for _ in self.connection.notifies(timeout=0):
            pass


class _SqliteWaker(_Waker):
    def wait(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(min(timeout, 0.05))


@contextlib.contextmanager
def _lease_for(alias: str, stop: threading.Event) -> Iterator[_Waker | None]:
    """Hold the relay lease of ``alias`` (waiting for it); yield a waker, or None if stopped."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with _postgres_lease(connection.settings_dict, stop) as waker:
            yield waker
    else:
        with _file_lease(_lock_path(str(connection.settings_dict["NAME"])), stop) as waker:
            yield waker


def _lock_path(name: str) -> Path:
    """The lease file of a SQLite database: beside its file, or in the temporary directory for
    an in-memory database (``file:...?mode=memory``), never in the working directory."""
    if name.startswith("file:") or name == ":memory:":
        return Path(tempfile.gettempdir()) / f"lotus-{zlib.crc32(name.encode()):08x}.relay.lock"
    return Path(name).with_suffix(".relay.lock")


@contextlib.contextmanager
def _postgres_lease(settings_dict: dict, stop: threading.Event) -> Iterator[_Waker | None]:
    lock_key = zlib.crc32(b"lotus.relay")
    conn = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        host=settings_dict.get("HOST") or None,
        port=settings_dict.get("PORT") or None,
        autocommit=True,
        application_name="lotus-relay",
    )
    try:
        announced = False
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,)).fetchone()[0]:
            if not announced:
                log.info("relay for %s: another replica is active; standing by", settings_dict["NAME"])
                announced = True
            if stop.wait(1.0):
                yield None
                return
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        yield _PostgresWaker(conn)
    finally:
        conn.close()


@contextlib.contextmanager
def _file_lease(path: Path, stop: threading.Event) -> Iterator[_Waker | None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop.wait(1.0):
                    yield None
                    return
        try:
            yield _SqliteWaker()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
