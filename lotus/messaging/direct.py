"""Publishing a consumer's outbox rows right after its batch commits, with the relay as fallback.

Without it, every message a consumer's handlers publish waits for the relay: a ``NOTIFY``, a
wake-up in another process, a read of the outbox, the produce, and a write to mark it sent.
With it, the consumer that wrote the rows produces them itself as soon as its transaction
has committed, and the relay only publishes what the consumer could not:

1. at the end of the batch transaction, :meth:`DirectPublisher.claim` marks sent the rows of
   the previous batch that the broker acknowledged, finds the keys that still have unsent
   rows in the outbox (one statement for both), and sets ``claimed_until`` on the new rows
   of every other key (``LOTUS_OUTBOX_CLAIM_SECONDS`` ahead on the database's clock, which the
   relay reads too). Rows of a key with unsent rows
   stay unclaimed: the relay publishes them after the older ones;
2. after the commit, :meth:`DirectPublisher.publish` produces the claimed rows in order and
   waits for the acknowledgements; the acknowledged ones are marked sent by the next batch's
   statement, or by :meth:`DirectPublisher.mark_sent` when the consumer is idle or stops.

Nothing is lost: every row is committed to the outbox before anything is produced. If the
consumer dies or the broker refuses a row, the claim lapses and the relay publishes the row
(maybe a second time; consumers drop duplicates by message id). A key's messages keep their
order: the relay holds back every row behind a claimed row of the same key, and a consumer
claims no row of a key that has older unsent rows. That argument relies on the writers of a
key serialising on a lock of their own, as the apps' aggregates do (the order row, the
account, the stock item): a row inserted concurrently by another writer of the same key
could otherwise go unseen by step 1.

The inserts trigger no ``NOTIFY`` for claimed rows (migration ``messaging.0004``), so the
relay stays asleep. Marking rows sent, or giving claimed rows back, wakes it only when rows of
the same key wait for it (migration ``messaging.0005``). ``LOTUS_CONSUMER_PUBLISHES=false`` turns all this off.

A web request that starts a saga does the same with :func:`publish_after_commit`: its rows
have a key made in its own transaction (the new order's id), so they need no check; they are
claimed, and once the transaction commits the request produces them with the process's shared
producer, waits up to ``LOTUS_WEB_PUBLISH_WAIT_SECONDS`` for the broker and marks them sent.
Whatever is not acknowledged by then goes out through the relay when its claim lapses.
``LOTUS_WEB_PUBLISHES=false`` leaves those rows to the relay.
"""

from __future__ import annotations

import functools
import logging
import threading

from confluent_kafka import KafkaException, Producer
from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone

from lotus import metrics
from lotus.db import DatabaseNow, alongside
from lotus.messaging.kafka import make_producer
from lotus.messaging.models import OutboxMessage
from lotus.messaging.relay import OUTBOX, Row, mark_sent, produce_rows

log = logging.getLogger(__name__)

_shared_producer: Producer | None = None
_shared_producer_lock = threading.Lock()


def shared_producer() -> Producer:
    """The process's producer for web requests (thread-safe; made on first use, after a fork)."""
    global _shared_producer
    with _shared_producer_lock:
        if _shared_producer is None:
            _shared_producer = make_producer(**{"linger.ms": 0})
        return _shared_producer


def publish_after_commit(alias: str, rows: list[OutboxMessage], *, service: str) -> None:
    """Claim ``rows`` (not inserted yet; their key must be new in this transaction) and publish
    them once the transaction on ``alias`` commits (see the module docstring)."""
    until = DatabaseNow(settings.LOTUS_OUTBOX_CLAIM_SECONDS)
    for row in rows:
        row.claimed_until = until
    transaction.on_commit(functools.partial(_publish_committed, alias, rows, service), using=alias, robust=True)


def _publish_committed(alias: str, rows: list[OutboxMessage], service: str) -> None:
    delivered = produce_rows(
        shared_producer(),
        [Row(row.pk, row.topic, row.key, row.body, str(row.message_id), row.message_type, True) for row in rows],
        who=f"web {service}",
        timeout=settings.LOTUS_WEB_PUBLISH_WAIT_SECONDS,
    ).delivered
    if delivered:
        mark_sent(alias, [row.id for row in delivered])
        metrics.REQUEST_PUBLISHED.labels(service).inc(len(delivered))


class DirectPublisher:
    """Publishes the outbox rows of one consumer's batches (see the module docstring)."""

    def __init__(self, service: str, alias: str, *, producer: Producer | None = None) -> None:
        self.service = service
        self.alias = alias
        self._producer = producer
        self.claim_seconds = settings.LOTUS_OUTBOX_CLAIM_SECONDS
        self.acknowledged: list[int] = []  # published, not yet marked sent
        self.marking: list[int] = []  # being marked sent by the open batch transaction
        self.claimed: list[OutboxMessage] = []  # this batch's rows to publish after the commit
        self.published = 0

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = make_producer()
        return self._producer

    def connect(self, timeout: float = 10.0) -> None:
        """Create the producer now, so the first batch does not wait for its connection. A
        broker that is not there yet is not fatal: the producer keeps trying by itself."""
        try:
            self.producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            log.warning("consumer %s: the producer has no broker yet (%s); carrying on", self.service, exc)

    def claim(self, rows: list[models.Model]) -> None:
        """Inside the batch transaction, before its deferred ``rows`` are inserted."""
        outbox = [row for row in rows if isinstance(row, OutboxMessage)]
        if not outbox and not self.acknowledged:
            return
        until = DatabaseNow(self.claim_seconds)
        if outbox and connections[self.alias].vendor == "postgresql":
            self._claim_with_the_inserts(outbox, until)
            return
        waiting = self._mark_and_find_waiting_keys({row.key for row in outbox})
        self.claimed = []
        for row in outbox:
            if row.key not in waiting:
                row.claimed_until = until
                self.claimed.append(row)

    def _claim_with_the_inserts(self, outbox: list[OutboxMessage], until: DatabaseNow) -> None:
        """The same as the general path, without a round trip of its own: the rows go in
        claimed, and the marking and the look-up of keys that still wait travel in the batch's
        insert statement (:func:`lotus.db.alongside`); rows of a waiting key are then given
        back to the relay before the commit, which no one sees."""
        connection = connections[self.alias]
        sent = self.marking = self.acknowledged
        self.acknowledged = []
        for row in outbox:
            row.claimed_until = until
        self.claimed = list(outbox)
        if sent:
            now = OutboxMessage._meta.get_field("sent_at").get_db_prep_value(timezone.now(), connection)
            alongside(self.alias, f"UPDATE {OUTBOX} SET sent_at = %s WHERE id = ANY(%s::bigint[])", [now, sent])
        # The statement sees the outbox as it was before it: without this batch's rows, and
        # with the rows it marks still unsent (hence they are left out by id).
        alongside(
            self.alias,
            f"SELECT DISTINCT key FROM {OUTBOX} WHERE sent_at IS NULL AND key = ANY(%s::text[]) "
            "AND NOT id = ANY(%s::bigint[])",
            [sorted({row.key for row in outbox}), sent],
            receive=self._give_back_waiting,
        )

    def _give_back_waiting(self, waiting_keys: list[str]) -> None:
        waiting = set(waiting_keys)
        if not waiting:
            return
        given_back = [row for row in self.claimed if row.key in waiting]
        self.claimed = [row for row in self.claimed if row.key not in waiting]
        for row in given_back:
            row.claimed_until = None
        # The update wakes the relay (migration messaging.0005): the insert trigger saw them claimed.
        with connections[self.alias].cursor() as cursor:
            cursor.execute(
                f"UPDATE {OUTBOX} SET claimed_until = NULL WHERE id = ANY(%s::bigint[])",
                [[row.id for row in given_back]],
            )

    def publish(self) -> None:
        """After the commit: produce the claimed rows and remember which were acknowledged."""
        claimed, self.claimed, self.marking = self.claimed, [], []
        if not claimed:
            return
        rows = [
            Row(row.pk, row.topic, row.key, row.body, str(row.message_id), row.message_type, claimed=True)
            for row in claimed
        ]
        produced = produce_rows(self.producer, rows, who=f"consumer {self.service}")
        if produced.fatal:
            log.error("consumer %s: the producer failed for good; making a new one", self.service)
            self._producer = None
        delivered = produced.delivered
        if len(delivered) < len(rows):
            log.warning(
                "consumer %s: %d of %d rows not acknowledged; the relay publishes them when their claim lapses",
                self.service, len(rows) - len(delivered), len(rows),
            )  # fmt: skip
        self.acknowledged += [row.id for row in delivered]
        self.published += len(delivered)
        metrics.CONSUMER_PUBLISHED.labels(self.service).inc(len(delivered))

    def discard(self) -> None:
        """The batch rolled back: its rows were never written, nor the previous ones marked."""
        self.claimed = []
        self.acknowledged, self.marking = self.marking + self.acknowledged, []

    def mark_sent(self) -> None:
        """Mark the acknowledged rows sent now (an idle or stopping consumer)."""
        if self.acknowledged:
            mark_sent(self.alias, self.acknowledged)
            self.acknowledged = []

    def _mark_and_find_waiting_keys(self, keys: set[str]) -> set[str]:
        """The general path (SQLite, or a batch that wrote no outbox rows): two statements."""
        connection = connections[self.alias]
        sent = self.marking = self.acknowledged
        self.acknowledged = []
        if sent:
            mark_sent(self.alias, sent)
        if not keys:
            return set()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT key FROM {OUTBOX} WHERE sent_at IS NULL AND key IN ({', '.join(['%s'] * len(keys))})",
                list(keys),
            )
            return {key for (key,) in cursor.fetchall()}
