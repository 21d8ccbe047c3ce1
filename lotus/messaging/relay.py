"""The relay: publishes a service's committed outbox rows to Kafka, in order, exactly as written.

One relay per service is *active* at a time: it holds the service's lease
(:mod:`lotus.messaging.lease`), a row whose expiry the database's clock keeps. Further
replicas stand by and take over once the lease expires: a relay that died, froze or lost its
network is replaced within ``RELAY["LEASE_SECONDS"]``, and replicas add availability without
ever reordering a key. The active relay checks its lease before every batch and stops
publishing when it lost it.

The active relay loops: fetch the oldest unsent rows (:func:`lotus.messaging.outbox.fetch_unsent`),
produce them (:class:`lotus.messaging.producer.Publisher`), and mark sent the acknowledged
rows that no failed row of their key precedes. A crash between produce and mark re-publishes
those rows later; consumers drop the duplicates by message id. When the outbox is empty it
sleeps until a ``NOTIFY lotus_outbox`` arrives (PostgreSQL) or the poll interval passes.

A row claimed by the unit of work that wrote it (published after its commit, see
:mod:`lotus.messaging.unit_of_work`) is skipped until its claim lapses, and every later row of
its key is held back meanwhile, so that a key's messages leave in the order they were written.
While it holds rows back the relay sleeps until the earliest claim lapses or a NOTIFY says a
row of such a key was marked sent.

A row the broker keeps refusing while it answers (a topic that is gone, a record too large) is
parked after ``RELAY["MAX_ATTEMPTS"]`` refusals (:func:`lotus.messaging.outbox.record_refusal`):
visible in the admin and the metrics, replayable (``manage.py outbox replay``), and no longer
in the way of other keys. Refusals while the broker does not answer at all are an outage, not
the row's fault, and are not counted; nor are those that say the cluster cannot take writes now
(no partition leader, fewer in-sync replicas than ``min.insync.replicas``, no answer in time:
:data:`lotus.messaging.producer.UNAVAILABLE`), which a replicated cluster gives while brokers
are down, however long that lasts.

The loop survives every database and broker failure (:mod:`lotus.messaging.recovery`).
Once a minute it prunes old sent rows, old inbox ids, expired idempotency records, ended
throttle counters and expired refresh tokens (housekeeping).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import psycopg
from django.db import connections

from lotus import metrics, revoked_tokens
from lotus.conf import lotus_settings
from lotus.idempotency import housekeeping as idempotency
from lotus.messaging import inbox, outbox
from lotus.messaging.lease import Lease, LeaseLost
from lotus.messaging.outbox import Row
from lotus.messaging.producer import Produced, Publisher
from lotus.messaging.recovery import TRANSIENT, Backoff, reconnect
from lotus.throttling import counters as throttle_counters
from lotus.topology import alias_for

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0


class Relay:
    """Publishes one service's outbox. Call :meth:`run` in a thread or process of its own."""

    def __init__(
        self,
        service: str,
        *,
        publisher: Publisher | None = None,
        stop: threading.Event | None = None,
        batch_size: int | None = None,
        poll_seconds: float | None = None,
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.service = service
        self.alias = alias_for(service)
        self.publisher = publisher or Publisher(f"relay {service}")
        self.stop = stop or threading.Event()
        self.batch_size = batch_size or lotus_settings.RELAY["BATCH_SIZE"]
        self.poll_seconds = poll_seconds if poll_seconds is not None else lotus_settings.RELAY["POLL_SECONDS"]
        self.max_attempts = max_attempts or lotus_settings.RELAY["MAX_ATTEMPTS"]
        self.lease = Lease(self.alias, "relay", seconds=lease_seconds or lotus_settings.RELAY["LEASE_SECONDS"])
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
        if delivered < len(rows):
            self.refused = True
            self._count_refusals(rows, produced)
        return delivered

    def _count_refusals(self, rows: list[Row], produced: Produced) -> None:
        """Some rows were not acknowledged: count a refusal against the first of each key,
        if the broker answers and the error is the row's (otherwise it is an outage, or too few
        in-sync replicas); park those refused too often."""
        delivered = {row.id for row in produced.delivered}
        first_of_key: dict[str, Row] = {}
        for row in rows:
            if row.id not in delivered:
                first_of_key.setdefault(row.key, row)
        refused = [
            row for row in first_of_key.values() if row.id in produced.errors and row.id not in produced.unavailable
        ]
        log.warning(
            "relay %s: %d of %d not acknowledged (%s)",
            self.service, len(rows) - len(delivered), len(rows),
            "; ".join(sorted(set(produced.errors.values()))) or "no answer in time",
        )  # fmt: skip
        if refused and self.publisher.broker_answers():
            for row in refused:
                if self.record_refusal(row, produced.errors[row.id]):
                    self.parked += 1
                    metrics.RELAY_PARKED.labels(self.service).inc()
                    log.error(
                        "relay %s: parked outbox row %s (%s %s, key %s) after %d refusals: %s",
                        self.service, row.id, row.message_type, row.message_id, row.key,
                        self.max_attempts, produced.errors[row.id],
                    )  # fmt: skip

    # -- hooks ------------------------------------------------------------------------------
    def fetch_batch(self) -> list[Row]:
        return outbox.fetch_unsent(self.alias, self.batch_size)

    def produce(self, rows: list[Row]) -> Produced:
        return self.publisher.produce(rows)

    def mark_sent(self, rows: list[Row]) -> None:
        outbox.mark_sent(self.alias, [row.id for row in rows])

    def record_refusal(self, row: Row, error: str) -> bool:
        return outbox.record_refusal(self.alias, row.id, error, max_attempts=self.max_attempts)

    def prune(self) -> int:
        """Housekeeping: old sent outbox rows, old inbox ids, expired idempotency records,
        throttle counters whose window ended and expired refresh tokens; return how many rows went."""
        return (
            outbox.prune(self.alias)
            + inbox.prune(self.alias)
            + idempotency.prune(self.alias)
            + throttle_counters.prune(self.alias)
            + revoked_tokens.prune(self.alias)
        )

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            pruned = self.prune()
            if pruned:
                log.info(
                    "relay %s: pruned %d sent outbox, old inbox, idempotency, throttle and expired token rows",
                    self.service,
                    pruned,
                )


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
        conn.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
        yield _PostgresWaker(conn)
    finally:
        conn.close()
