"""Idempotent consumers: apply each Kafka message once in effect, never stall on a bad one.

For every record, :class:`Consumer` opens the envelope and finds the service's handler,
then :func:`apply` runs, in **one** transaction on the service's database:

1. look the message id up in the inbox; if it is there, the message was applied: skip;
2. record the id in the inbox;
3. run the handler, whose writes and outbox rows join the same transaction.

Records that arrive together form a batch that shares one transaction: the handlers in
order, then one statement that writes everything they deferred (outbox rows, history, ledger
entries: :func:`lotus.db.deferred_inserts`) and inserts all their ids into the inbox
(:func:`lotus.db.alongside`). The inbox insert coming last saves each batch a round trip; it
is still in the same transaction as the effect, so an id found there already (a redelivery)
rolls the whole batch back, and the batch runs again without that message. If anything else
in a batch fails, it is rolled back and its records are applied one by one. After the commit the consumer publishes
the batch's outbox rows itself (:mod:`lotus.messaging.direct`); the relay is the fallback.

Kafka offsets are stored only after that transaction commits, and committed to the broker
in the background every ``LOTUS_CONSUMER_COMMIT_INTERVAL_MS`` and when the consumer stops.
A crash in between redelivers the message, and step 1 drops it: at-least-once delivery,
exactly-once effect.

Failures:

* malformed records, unknown message types, unsupported versions and invalid payloads go
  straight to the dead letters (a :class:`~lotus.messaging.models.DeadLetter` row plus the
  record on ``<service>.deadletter``), with a log line saying why;
* a handler that raises is retried ``LOTUS_CONSUMER_MAX_ATTEMPTS`` times with exponential
  backoff, then dead-lettered; the consumer moves on to the next record of the partition.
  That includes a statement that fails the same way every time (a statement timeout, a lock
  not available, a value too large);
* a lost database connection is not the message's fault: it is retried until the
  database is back (or the consumer is stopped), and never dead-lettered
  (:func:`lotus.messaging.recovery.connection_lost` tells the two apart);
* anything else the database or the broker throws at the loop (while dead-lettering, storing
  offsets, publishing after the commit) neither ends the process nor skips a record: the
  records of the batch not yet handled are fetched again (the consumer seeks back to them),
  and the loop carries on after a bounded, jittered pause.

Message types that have a contract but no handler in this service are skipped: several
services read the same events topic and each handles only what concerns it.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
import traceback
import uuid

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka import Message as KafkaRecord
from django.conf import settings
from django.db import Error as DatabaseError
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from lotus import metrics
from lotus.contracts import ContractError, Envelope, Message, message_class
from lotus.db import alongside, deferred_inserts
from lotus.messaging import outbox
from lotus.messaging.direct import DirectPublisher
from lotus.messaging.kafka import consumer_group, dead_letter_topic, make_consumer
from lotus.messaging.models import DeadLetter, InboxMessage
from lotus.messaging.recovery import TRANSIENT, Backoff, connection_lost, reconnect
from lotus.messaging.registry import Context, Handlers, consuming
from lotus.topology import alias_for

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
#: Tries of a batch whose messages turn out to be applied already, before it goes one by one.
MAX_BATCH_ATTEMPTS = 3


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead-lettered"


class _Stopped(Exception):
    """The consumer was asked to stop while a record waited for a retry."""


def apply(
    envelope: Envelope, *, service: str, handlers: Handlers, topic: str = "", message: Message | None = None
) -> Outcome:
    """Apply one message exactly once in effect (see the module docstring).

    Raises :class:`ContractError` when the payload does not match the contract, and
    whatever the handler raises; in both cases nothing of the message was written. Inside
    an open transaction (a consumer's batch) it joins that transaction without a savepoint:
    a failure then rolls back the whole batch, which the consumer replays one by one.
    """
    found = handlers.lookup(envelope.type)
    if found is None:
        return Outcome.IGNORED
    message_cls, handler = found
    if message is None:
        message = envelope.open(message_cls)
    alias = alias_for(service)
    with transaction.atomic(using=alias, savepoint=False):
        if not _record_in_inbox(alias, envelope, topic):
            return Outcome.DUPLICATE
        handler(message, Context(service=service, envelope=envelope))
    return Outcome.APPLIED


def _record_in_inbox(alias: str, envelope: Envelope, topic: str) -> bool:
    """Insert the message id into the inbox; False if it is there already (one statement)."""
    return envelope.id in _record_all_in_inbox(alias, [(envelope, topic)])


def _inbox_insert(alias: str, items: list[tuple[Envelope, str]]) -> tuple[str, list]:
    """The statement that inserts the ids of ``items`` into the inbox, skipping those already
    there, and returns the new ones as text; and its parameters."""
    connection = connections[alias]
    meta = InboxMessage._meta
    message_id, processed_at = meta.get_field("message_id"), meta.get_field("processed_at")
    now = processed_at.get_db_prep_value(timezone.now(), connection)
    values = []
    for envelope, topic in items:
        values += [message_id.get_db_prep_value(envelope.id, connection), envelope.type, topic, now]
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(items))
    sql = (
        f"INSERT INTO {meta.db_table} (message_id, message_type, topic, processed_at) VALUES {rows} "
        "ON CONFLICT (message_id) DO NOTHING RETURNING CAST(message_id AS text)"
    )
    return sql, values


def _record_all_in_inbox(alias: str, items: list[tuple[Envelope, str]]) -> set[uuid.UUID]:
    """Insert the ids of a batch into the inbox with one statement; return those that were new."""
    with connections[alias].cursor() as cursor:
        cursor.execute(*_inbox_insert(alias, items))
        return {uuid.UUID(found) for (found,) in cursor.fetchall()}


class _AppliedBefore(Exception):
    """Messages of a batch were in the inbox already (``ids``): the batch is rolled back."""

    def __init__(self, ids: set[uuid.UUID]) -> None:
        super().__init__(f"{len(ids)} message(s) applied before")
        self.ids = ids


def _record_in_inbox_with_the_inserts(alias: str, items: list[tuple[Envelope, str]]) -> None:
    """Insert the ids of a batch's applied messages into the inbox with the batch's deferred
    inserts (:func:`lotus.db.alongside`); raise :class:`_AppliedBefore` if any was there."""
    expected = {envelope.id for envelope, _ in items}

    def check(inserted: list[str]) -> None:
        missing = expected - {uuid.UUID(value) for value in inserted}
        if missing:
            raise _AppliedBefore(missing)

    sql, values = _inbox_insert(alias, items)
    alongside(alias, sql, values, receive=check)


def replay(dead_letter: DeadLetter, *, service: str, handlers: Handlers) -> Outcome:
    """Apply a dead-lettered message again (after a fix) and mark it replayed, atomically."""
    envelope = Envelope.from_bytes(dead_letter.body)
    alias = alias_for(service)
    with transaction.atomic(using=alias):
        outcome = apply(envelope, service=service, handlers=handlers, topic=dead_letter.topic)
        dead_letter.replayed_at = timezone.now()
        dead_letter.save(using=alias, update_fields=["replayed_at"])
    return outcome


class Consumer:
    """Consumes one service's topics with its own consumer group until stopped.

    Hooks for subclasses and tests: :meth:`handle` (one record) and :meth:`commit`.
    """

    def __init__(
        self,
        service: str,
        handlers: Handlers,
        *,
        kafka: KafkaConsumer | None = None,
        stop: threading.Event | None = None,
        max_attempts: int | None = None,
        backoff_seconds: float | None = None,
        batch_size: int = 200,
        publisher: DirectPublisher | None = None,
        publishes: bool | None = None,
    ) -> None:
        self.service = service
        self.alias = alias_for(service)
        self.handlers = handlers
        self.kafka = kafka or make_consumer(consumer_group(service))
        self.stop = stop or threading.Event()
        self.max_attempts = max_attempts or settings.LOTUS_CONSUMER_MAX_ATTEMPTS
        self.backoff_seconds = settings.LOTUS_CONSUMER_BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
        self.batch_size = batch_size
        self.counts = {outcome: 0 for outcome in Outcome}
        if publishes is None:
            publishes = settings.LOTUS_CONSUMER_PUBLISHES
        self.publisher = publisher or (DirectPublisher(service, self.alias) if publishes else None)

    def counts_total(self, *outcomes: Outcome) -> int:
        """How many records ended in ``outcomes`` (all outcomes when none are named)."""
        return sum(count for outcome, count in self.counts.items() if not outcomes or outcome in outcomes)

    def topics(self) -> list[str]:
        return [outbox.physical_topic(name) for name in self.handlers.topics()]

    def run(self) -> None:
        topics = self.topics()
        self.kafka.subscribe(topics)
        log.info("consumer %s: subscribed to %s", self.service, ", ".join(topics))
        if self.publisher:
            self.publisher.connect()
        backoff = Backoff()
        try:
            while not self.stop.is_set():
                try:
                    self.poll_once()
                    backoff.reset()
                except TRANSIENT as exc:
                    pause = backoff.next()
                    log.warning("consumer %s: %s: %s; again in %.1f s", self.service, type(exc).__name__, exc, pause)
                    reconnect()
                    self.stop.wait(pause)
        finally:
            self._mark_published()
            self.kafka.close()
            close_old_connections()
            log.info("consumer %s: stopped, left the group", self.service)

    def poll_once(self, timeout: float = 0.5) -> int:
        """Consume and handle one batch, then commit its offsets; return the records handled."""
        records = []
        for record in self._next_batch(timeout):
            if record.error():
                log.warning("consumer %s: %s", self.service, record.error())
            else:
                records.append(record)
        handled: list[KafkaRecord] = []
        if not records:
            self._mark_published()
        try:
            with contextlib.suppress(_Stopped):
                self.handle_batch(records, handled)
        except BaseException:
            self._rewind(records, handled)
            raise
        finally:
            positions = {(record.topic(), record.partition()): record.offset() + 1 for record in handled}
            if positions:
                self.commit(positions)
        return len(handled)

    def _rewind(self, records: list[KafkaRecord], handled: list[KafkaRecord]) -> None:
        """Seek back to the first record of each partition that was not handled, so that the
        next poll returns it again rather than the records after it."""
        done = {id(record) for record in handled}
        first: dict[tuple[str, int], int] = {}
        for record in records:
            if id(record) not in done:
                first.setdefault((record.topic(), record.partition()), record.offset())
        for (topic, partition), offset in first.items():
            try:
                self.kafka.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                # The partition went to another consumer meanwhile: it resumes from the stored offset.
                log.warning("consumer %s: could not seek %s[%d] back (%s)", self.service, topic, partition, exc)

    def handle_batch(self, records: list[KafkaRecord], handled: list[KafkaRecord]) -> None:
        """Apply the batch's messages in one database transaction (one commit for all);
        if anything in it fails, roll it back and handle the records one by one."""
        batch: list[tuple[KafkaRecord, Envelope, Message]] = []
        for record in records:
            opened = self._applicable(record)
            if opened is None:
                self._flush(batch, handled)
                self.handle(record)
                handled.append(record)
            else:
                batch.append((record, *opened))
            if self.stop.is_set():
                break
        self._flush(batch, handled)

    def _applicable(self, record: KafkaRecord) -> tuple[Envelope, Message] | None:
        """The record's envelope and message if it can join a batch: parsable, handled here, valid."""
        try:
            envelope = Envelope.from_bytes(record.value())
            found = self.handlers.lookup(envelope.type)
            if found is None:
                return None
            return envelope, envelope.open(found[0])
        except ContractError:
            return None

    def _flush(self, batch: list[tuple[KafkaRecord, Envelope, Message]], handled: list[KafkaRecord]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        applied_before: set[uuid.UUID] = set()
        for _ in range(MAX_BATCH_ATTEMPTS):
            outcomes: list[Outcome] = []
            try:
                self._apply_batch(batch, applied_before, outcomes)
                break
            except _AppliedBefore as found:
                if self.publisher:
                    self.publisher.discard()
                applied_before |= found.ids
                log.info(
                    "consumer %s: %d message(s) of a batch applied before; again without them",
                    self.service,
                    len(found.ids),
                )
            except Exception as exc:  # noqa: BLE001 -- replayed one by one below, with retries and dead letters
                if self.publisher:
                    self.publisher.discard()
                log.info("consumer %s: batch of %d rolled back (%s); one by one", self.service, len(batch), exc)
                infrastructure = isinstance(exc, DatabaseError) and connection_lost(exc)
                if infrastructure:
                    reconnect()
                # The failing message has had its first attempt already.
                self._one_by_one(batch, handled, failed_at=-1 if infrastructure else len(outcomes))
                return
        else:
            self._one_by_one(batch, handled, failed_at=-1)
            return
        if self.publisher:
            self.publisher.publish()
        seconds = (time.perf_counter() - started) / len(batch)
        for (record, envelope, _), outcome in zip(batch, outcomes, strict=True):
            metrics.CONSUMER_SECONDS.labels(self.service).observe(seconds)
            self._count(outcome, envelope.type)
            handled.append(record)
        batch.clear()

    def _apply_batch(
        self,
        batch: list[tuple[KafkaRecord, Envelope, Message]],
        applied_before: set[uuid.UUID],
        outcomes: list[Outcome],
    ) -> None:
        """One transaction for the batch. The inbox insert comes last, in the statement that
        writes what the handlers deferred: a message found there already raises
        :class:`_AppliedBefore`, which rolls back everything the batch did."""
        with transaction.atomic(using=self.alias), consuming(), deferred_inserts(self.alias) as written:
            fresh: list[tuple[Envelope, str]] = []
            seen = set(applied_before)
            for record, envelope, message in batch:
                if envelope.id in seen:  # the same message twice in one batch applies once
                    outcomes.append(Outcome.DUPLICATE)
                    continue
                seen.add(envelope.id)
                _, handler = self.handlers.lookup(envelope.type)
                handler(message, Context(service=self.service, envelope=envelope))
                fresh.append((envelope, record.topic()))
                outcomes.append(Outcome.APPLIED)
            if self.publisher:
                self.publisher.claim(written)
            if fresh:
                _record_in_inbox_with_the_inserts(self.alias, fresh)

    def _one_by_one(
        self, batch: list[tuple[KafkaRecord, Envelope, Message]], handled: list[KafkaRecord], *, failed_at: int
    ) -> None:
        for index, (record, *_) in enumerate(list(batch)):
            self.handle(record, failed_attempts=int(index == failed_at))
            handled.append(record)
        batch.clear()

    def _next_batch(self, timeout: float) -> list[KafkaRecord]:
        # consume(n, timeout) waits for n records or the timeout; wait for the first record
        # only, then take whatever else is already fetched, so a lone message is not delayed.
        first = self.kafka.poll(timeout)
        if first is None:
            return []
        return [first, *self.kafka.consume(num_messages=self.batch_size - 1, timeout=0)]

    def _mark_published(self) -> None:
        if self.publisher is None:
            return
        try:
            self.publisher.mark_sent()
        except TRANSIENT as exc:
            # Unmarked rows are published again by the relay when their claims lapse: duplicates, not losses.
            log.warning("consumer %s: could not mark published rows sent (%s)", self.service, exc)
            reconnect()

    def commit(self, positions: dict[tuple[str, int], int]) -> None:
        """Hand the next offsets of applied records to the client, which commits them to the
        broker in the background (a synchronous commit per batch costs a broker write each)."""
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in positions.items()]
        try:
            self.kafka.store_offsets(offsets=offsets)
        except KafkaException as exc:
            # A partition taken away meanwhile: the records are applied; if they come again, the inbox drops them.
            log.warning("consumer %s: offsets not stored (%s); redeliveries will be skipped", self.service, exc)

    def handle(self, record: KafkaRecord, *, failed_attempts: int = 0) -> Outcome:
        try:
            envelope = Envelope.from_bytes(record.value())
        except ContractError as exc:
            return self._dead_letter(record, None, f"malformed message: {exc}", attempts=1)
        if self.handlers.lookup(envelope.type) is None:
            if message_class(envelope.type) is None:
                return self._dead_letter(record, envelope, f"unknown message type {envelope.type!r}", attempts=1)
            return self._count(Outcome.IGNORED, envelope.type)
        attempt = failed_attempts
        if failed_attempts:
            metrics.CONSUMER_RETRIES.labels(self.service).inc()
        while True:
            attempt += 1
            try:
                with metrics.CONSUMER_SECONDS.labels(self.service).time():
                    outcome = apply(envelope, service=self.service, handlers=self.handlers, topic=record.topic())
                return self._count(outcome, envelope.type)
            except ContractError as exc:
                return self._dead_letter(record, envelope, str(exc), attempts=attempt)
            except Exception as exc:  # noqa: BLE001 -- any handler failure is retried, then dead-lettered
                if isinstance(exc, DatabaseError) and connection_lost(exc):
                    attempt -= 1  # the database, not the message, failed: wait for it without limit
                    log.warning("consumer %s: database unavailable (%s); retrying %s", self.service, exc, envelope.id)
                    reconnect()
                    self._sleep(MAX_BACKOFF_SECONDS)
                    continue
                if attempt >= self.max_attempts:
                    error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
                    return self._dead_letter(record, envelope, error, attempts=attempt)
                log.warning(
                    "consumer %s: %s %s failed (attempt %d of %d): %s",
                    self.service, envelope.type, envelope.id, attempt, self.max_attempts, exc,
                )  # fmt: skip
                metrics.CONSUMER_RETRIES.labels(self.service).inc()
                self._sleep(min(self.backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise _Stopped

    def _count(self, outcome: Outcome, message_type: str = "") -> Outcome:
        self.counts[outcome] += 1
        metrics.CONSUMER_MESSAGES.labels(self.service, message_type or "malformed", outcome.value).inc()
        if outcome is Outcome.DEAD_LETTERED:
            metrics.DEAD_LETTERS.labels(self.service).inc()
        return outcome

    def _dead_letter(self, record: KafkaRecord, envelope: Envelope | None, error: str, *, attempts: int) -> Outcome:
        raw = record.value() or b""
        body = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        key = record.key()
        key = key.decode("utf-8", errors="replace") if isinstance(key, bytes) else (key or "")
        log.error(
            "consumer %s: dead-lettered %s from %s[%s]@%s: %s",
            self.service, envelope.type if envelope else "a malformed record",
            record.topic(), record.partition(), record.offset(), error.splitlines()[0],
        )  # fmt: skip
        with transaction.atomic(using=self.alias):
            DeadLetter.objects.using(self.alias).create(
                message_id=envelope.id if envelope else None,
                message_type=envelope.type if envelope else "",
                topic=record.topic(),
                partition=record.partition(),
                offset=record.offset(),
                key=key,
                body=body,
                error=error,
                attempts=attempts,
            )
            outbox.enqueue(
                service=self.service,
                topic=dead_letter_topic(self.service),
                key=key,
                body=body,
                message_id=envelope.id if envelope else uuid.uuid4(),
                message_type=envelope.type if envelope else "malformed",
            )
        return self._count(Outcome.DEAD_LETTERED, envelope.type if envelope else "")
