"""The relay: publishes a service's committed outbox rows to Kafka, in order, exactly as written.

One relay per service is *active* at a time: it holds the service's lease
(:mod:`lotus.messaging.lease`), a row whose expiry the database's clock keeps. Further
replicas stand by and take over once the lease expires: a relay that died, froze or lost its
network is replaced within ``LOTUS_RELAY_LEASE_SECONDS``, and replicas add availability without
ever reordering a key. The active relay checks its lease before every batch and stops
publishing when it lost it.

The active relay loops: read the oldest unsent rows (a batch), produce them with an
idempotent producer, wait for the broker's acknowledgements, and mark sent the acknowledged
rows that no failed row of their key precedes. A crash between produce and mark re-publishes
those rows later; consumers drop the duplicates by message id. When the outbox is empty it
sleeps until a ``NOTIFY lotus_outbox`` arrives (PostgreSQL) or the poll interval passes.

Rows a consumer or a web request publishes itself after its commit
(:mod:`lotus.messaging.direct`) carry a claim (``claimed_until``, on the database's clock).
The relay skips a claimed row until its claim lapses, and holds back every later row with the
same key meanwhile, so that a key's messages still leave in the order they were written. While
it holds rows back it sleeps until the earliest claim lapses or a NOTIFY says a row of such a
key was marked sent (migration ``messaging.0005``); if the publisher died, the relay publishes
its rows once their claims lapse.

A row the broker keeps refusing while it answers (a topic that is gone, a record too large) is
*parked* after ``LOTUS_RELAY_MAX_ATTEMPTS`` refusals: set aside with its error, visible in the
admin and the metrics, replayable (``manage.py outbox replay``), and no longer in the way of
other keys; later rows of its own key wait behind it, as their order requires. Refusals while
the broker does not answer at all are an outage, not the row's fault, and are not counted.

The loop survives every database and broker failure (:mod:`lotus.messaging.recovery`).

Public hooks for subclasses and tests: :meth:`Relay.fetch_batch`, :meth:`Relay.produce`,
:meth:`Relay.mark_sent`, :meth:`Relay.prune`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
from confluent_kafka import KafkaError, KafkaException, Producer
from django.conf import settings
from django.db import connections
from django.utils import timezone

from lotus import metrics
from lotus.db import DatabaseNow
from lotus.messaging.kafka import make_producer
from lotus.messaging.lease import Lease, LeaseLost
from lotus.messaging.models import InboxMessage, OutboxMessage
from lotus.messaging.outbox import NOTIFY_CHANNEL
from lotus.messaging.recovery import TRANSIENT, Backoff, reconnect
from lotus.topology import alias_for

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0
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
    #: Seconds until the row's claim lapses (claimed rows only).
    claim_left: float = 0.0


@dataclass
class Produced:
    """What the broker made of some rows: those to mark sent, and the refusals by row id."""

    delivered: list[Row] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    #: The producer failed for good (librdkafka's fatal errors): it must be replaced.
    fatal: bool = False


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
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.service = service
        self.alias = alias_for(service)
        self.producer = producer or make_producer()
        self.stop = stop or threading.Event()
        self.batch_size = batch_size or settings.LOTUS_RELAY_BATCH_SIZE
        self.poll_seconds = poll_seconds if poll_seconds is not None else settings.LOTUS_RELAY_POLL_SECONDS
        self.max_attempts = max_attempts or settings.LOTUS_RELAY_MAX_ATTEMPTS
        self.lease = Lease(self.alias, "relay", seconds=lease_seconds or settings.LOTUS_RELAY_LEASE_SECONDS)
        self.backoff = Backoff()
        self.published = 0
        self.parked = 0
        self.refused = False
        #: Seconds until the earliest claim that holds rows back lapses; None when none does.
        self.held_back_for: float | None = None
        self._last_prune = 0.0

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        standing_by = False
        while not self.stop.is_set():
            try:
                if not self.lease.acquire():
                    if not standing_by:
                        log.info("relay %s: another replica holds the lease; standing by", self.service)
                        standing_by = True
                    self.stop.wait(min(1.0, self.lease.seconds / 4))
                    continue
                standing_by = False
                log.info("relay %s: active", self.service)
                with _waker_for(self.alias) as waker:
                    self._plan_each_time()
                    self._loop(waker)
            except LeaseLost:
                log.warning("relay %s: the lease went to another replica; standing by", self.service)
            except TRANSIENT as exc:
                pause = self.backoff.next()
                log.warning("relay %s: %s: %s; again in %.1f s", self.service, type(exc).__name__, exc, pause)
                reconnect()
                self.stop.wait(pause)
        with contextlib.suppress(*TRANSIENT):
            self.lease.release()

    def _loop(self, waker: _Waker) -> None:
        while not self.stop.is_set():
            self.lease.hold()
            sent = self.publish_once()
            if self.refused:
                self.stop.wait(self.backoff.next())
                continue
            self.backoff.reset()
            self._maybe_prune()
            if sent < self.batch_size:
                wait = self.poll_seconds if self.held_back_for is None else min(self.held_back_for, self.poll_seconds)
                # Wake in time to renew the lease while idle, too.
                waker.wait(min(wait, max(self.lease.renew_in(), 0.05)), self.stop)

    def _plan_each_time(self) -> None:
        """Plan the relay's statements on every run, even prepared ones. A generic plan made
        while the outbox is nearly empty (a fresh deployment) scans the whole table; the
        outbox then grows, and marking rows sent would scan it every time."""
        connection = connections[self.alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET plan_cache_mode = force_custom_plan")

    def publish_once(self) -> int:
        """Publish one batch; return how many rows were marked sent (``refused`` then says
        whether the broker left some of the batch unacknowledged)."""
        self.refused = False
        fetched = self.fetch_batch()
        rows = unclaimed(fetched)
        held_back = sum(not row.claimed for row in fetched) > len(rows)
        claims = [row.claim_left for row in fetched if row.claimed]
        self.held_back_for = max(min(claims), 0.01) if held_back and claims else None
        if not rows:
            return 0
        with metrics.RELAY_BATCH_SECONDS.labels(self.service).time():
            produced = self.produce(rows)
            if produced.delivered:
                self.mark_sent(produced.delivered)
        delivered = len(produced.delivered)
        self.published += delivered
        metrics.RELAY_PUBLISHED.labels(self.service).inc(delivered)
        if produced.fatal:
            log.error("relay %s: the producer failed for good; making a new one", self.service)
            self.producer = make_producer()
        if delivered < len(rows):
            self.refused = True
            self._count_refusals(rows, produced)
        return delivered

    def _count_refusals(self, rows: list[Row], produced: Produced) -> None:
        """Some rows were not acknowledged: count a refusal against the first of each key,
        if the broker answers (otherwise it is an outage); park those refused too often."""
        delivered = {row.id for row in produced.delivered}
        first_of_key: dict[str, Row] = {}
        for row in rows:
            if row.id not in delivered:
                first_of_key.setdefault(row.key, row)
        refused = [row for row in first_of_key.values() if row.id in produced.errors]
        log.warning(
            "relay %s: %d of %d not acknowledged (%s)",
            self.service, len(rows) - len(delivered), len(rows),
            "; ".join(sorted(set(produced.errors.values()))) or "no answer in time",
        )  # fmt: skip
        if refused and self._broker_answers():
            for row in refused:
                if self.record_refusal(row, produced.errors[row.id]):
                    self.parked += 1
                    metrics.RELAY_PARKED.labels(self.service).inc()
                    log.error(
                        "relay %s: parked outbox row %s (%s %s, key %s) after %d refusals: %s",
                        self.service, row.id, row.message_type, row.message_id, row.key,
                        self.max_attempts, produced.errors[row.id],
                    )  # fmt: skip

    def _broker_answers(self) -> bool:
        try:
            self.producer.list_topics(timeout=5)
        except KafkaException:
            return False
        return True

    # -- hooks ------------------------------------------------------------------------------
    # The loop's statements are plain SQL: the ORM would cost more than the database here.
    def fetch_batch(self) -> list[Row]:
        """The oldest unsent rows that are not parked and whose key has no parked row."""
        connection = connections[self.alias]
        now, now_params = DatabaseNow().as_sql(connection)
        if connection.vendor == "postgresql":
            left = f"EXTRACT(EPOCH FROM claimed_until - {now})"
        else:
            left = f"(julianday(claimed_until) - julianday({now})) * 86400"
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, topic, key, body, message_id, message_type, "
                f"CASE WHEN claimed_until > {now} THEN {left} END FROM {OUTBOX} o "
                "WHERE sent_at IS NULL AND parked_at IS NULL AND NOT EXISTS ("
                f"SELECT 1 FROM {OUTBOX} p WHERE p.key = o.key AND p.sent_at IS NULL AND p.parked_at IS NOT NULL) "
                "ORDER BY id LIMIT %s",
                [*now_params, *now_params, self.batch_size],
            )
            # SQLite keeps UUIDs as bare hex: normalise the id for the record's header.
            return [
                Row(
                    *values[:4],
                    str(uuid.UUID(str(values[4]))),
                    values[5],
                    claimed=values[6] is not None,
                    claim_left=float(values[6] or 0.0),
                )
                for values in cursor.fetchall()
            ]

    def produce(self, rows: list[Row]) -> Produced:
        """Produce ``rows``; return the rows to mark sent and the refusals."""
        return produce_rows(self.producer, rows, who=f"relay {self.service}")

    def mark_sent(self, rows: list[Row]) -> None:
        mark_sent(self.alias, [row.id for row in rows])

    def record_refusal(self, row: Row, error: str) -> bool:
        """Count one refusal of ``row``; park it at ``max_attempts``. True if it was parked."""
        connection = connections[self.alias]
        now, now_params = DatabaseNow().as_sql(connection)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OUTBOX} SET attempts = attempts + 1, last_error = %s, "
                f"parked_at = CASE WHEN attempts + 1 >= %s THEN {now} END "
                "WHERE id = %s RETURNING parked_at IS NOT NULL",
                [error, self.max_attempts, *now_params, row.id],
            )
            found = cursor.fetchone()
        return bool(found and found[0])

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


def produce_rows(producer: Producer, rows: list[Row], *, who: str, timeout: float = 30.0) -> Produced:
    """Produce ``rows`` in order and wait up to ``timeout`` for the broker. Return the rows to
    mark sent (acknowledged, and no unacknowledged row of their key before them) and the
    refusals: an error the broker or the client reported for a row. Never raises for a row:
    a record the client refuses outright (too large, say) is a refusal like any other, and the
    later rows of its key are not produced."""
    produced = Produced()
    acked: set[int] = set()

    def on_delivery(row_id: int):
        def callback(error: KafkaError | None, _message: object) -> None:
            if error is None:
                acked.add(row_id)
            else:
                produced.errors[row_id] = error.str()
                produced.fatal = produced.fatal or error.fatal()

        return callback

    refused_keys: set[str] = set()
    for row in rows:
        if row.key in refused_keys:
            continue
        headers = [("type", row.message_type), ("id", str(row.message_id)), ("correlation_id", row.key)]
        while True:
            try:
                producer.produce(
                    row.topic, value=row.body, key=row.key, headers=headers, on_delivery=on_delivery(row.id)
                )
                break
            except BufferError:
                producer.poll(0.1)
            except KafkaException as exc:
                produced.errors[row.id] = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
                refused_keys.add(row.key)
                break
    remaining = producer.flush(timeout)
    if remaining:
        log.warning("%s: %d messages still in flight after %s s", who, remaining, timeout)
    for row_id, error in produced.errors.items():
        log.error("%s: outbox row %s not published: %s", who, row_id, error)
    blocked: set[str] = set()
    for row in rows:
        if row.key in blocked:
            continue
        if row.id in acked:
            produced.delivered.append(row)
        else:
            blocked.add(row.key)
    return produced


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


def replay_parked(alias: str, ids: list[int] | None = None) -> int:
    """Give parked rows (``ids``, or all) back to the relay with their count of refusals reset;
    return how many. On PostgreSQL the update wakes the relay (migration ``messaging.0005``)."""
    rows = OutboxMessage.objects.using(alias).filter(parked_at__isnull=False, sent_at__isnull=True)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    return rows.update(parked_at=None, attempts=0)


# -- wake-ups -------------------------------------------------------------------------------
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
def _waker_for(alias: str) -> Iterator[_Waker]:
    """On PostgreSQL, a connection of its own that LISTENs for the outbox's NOTIFYs."""
    settings_dict = connections[alias].settings_dict
    if connections[alias].vendor != "postgresql":
        yield _SqliteWaker()
        return
    conn = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        host=settings_dict.get("HOST") or None,
        port=settings_dict.get("PORT") or None,
        autocommit=True,
        application_name="lotus-relay",
        connect_timeout=10,
    )
    try:
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        yield _PostgresWaker(conn)
    finally:
        conn.close()
