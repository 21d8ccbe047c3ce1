"""Idempotent consumers: apply each Kafka message once in effect, never stall on a bad one.

The loop: poll a batch of records → open one :class:`~lotus.messaging.unit_of_work.UnitOfWork`
for the batch → run each message's handler (from the service's registry) inside
``uow.handling(envelope)`` → the unit of work writes everything the handlers added and sent,
and the batch's message ids into the inbox, with one statement, and commits → store the
offsets. The inbox insert is in the same transaction as the effect: an id found there already
(a redelivery) makes the unit of work roll back (:class:`~lotus.messaging.unit_of_work.AppliedBefore`),
and the batch runs again without that message. A single message is a batch of one: there is
one idempotency protocol. If anything else in a batch fails, it is rolled back and its
records are applied one by one, each with its own retries.

Kafka offsets are stored only after that transaction commits, and committed to the broker
in the background every ``CONSUMER["COMMIT_INTERVAL_MS"]`` and when the consumer stops. A
crash in between redelivers the message, and the inbox drops it: at-least-once delivery,
exactly-once effect.

Failures:

* malformed records, unknown message types, unsupported versions and invalid payloads go
  straight to the dead letters (:mod:`lotus.messaging.dead_letters`), with a log line saying why;
* a message its handler refuses (:class:`~lotus.messaging.registry.MessageRejected`: what it
  claims contradicts the service's data) is rolled back and dead-lettered at once, with the
  reason, without retries;
* a handler that raises anything else is retried ``CONSUMER["MAX_ATTEMPTS"]`` times with
  exponential backoff, then dead-lettered; the consumer moves on to the next record of the
  partition.
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

With tracing on (:mod:`lotus.tracing`), each message is handled in a span of its own, a child of
the span that published it (the record's ``traceparent`` header), and the batch's transaction
in a span linked to all of them; off, those hooks are shared no-ops.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka import Message as KafkaRecord
from django.db import Error as DatabaseError
from django.db import close_old_connections

from lotus import metrics, tracing
from lotus.conf import lotus_settings
from lotus.contracts import ContractError, Envelope, Message, message_class
from lotus.messaging import dead_letters
from lotus.messaging.kafka import consumer_group, make_consumer, physical_topic
from lotus.messaging.producer import Publisher
from lotus.messaging.recovery import TRANSIENT, Backoff, connection_lost, reconnect
from lotus.messaging.registry import Handlers, MessageRejected, Outcome
from lotus.messaging.unit_of_work import AppliedBefore, UnitOfWork
from lotus.topology import alias_for

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
#: Tries of a batch whose messages turn out to be applied already, before it goes one by one.
MAX_BATCH_ATTEMPTS = 3


class _Stopped(Exception):
    """The consumer was asked to stop while a record waited for a retry."""


class Consumer:
    """Consumes one service's topics with its own consumer group until stopped.

    ``publisher``: who produces the batch's outbox rows right after its commit (the default,
    when ``CONSUMER["PUBLISHES"]`` is on: a publisher of its own); None: the relay does.
    Hook for subclasses and tests: :meth:`commit`.
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
        publisher: Publisher | str | None = "default",
    ) -> None:
        self.service = service
        self.alias = alias_for(service)
        self.handlers = handlers
        self.kafka = kafka or make_consumer(consumer_group(service))
        self.stop = stop or threading.Event()
        self.max_attempts = max_attempts or lotus_settings.CONSUMER["MAX_ATTEMPTS"]
        self.backoff_seconds = (
            lotus_settings.CONSUMER["BACKOFF_SECONDS"] if backoff_seconds is None else backoff_seconds
        )
        self.batch_size = batch_size
        self.counts = {outcome: 0 for outcome in Outcome}
        if publisher == "default":
            publisher = (
                Publisher(f"consumer {service}", defer_marks=True, counter=metrics.CONSUMER_PUBLISHED)
                if lotus_settings.CONSUMER["PUBLISHES"]
                else None
            )
        self.publisher = publisher

    def counts_total(self, *outcomes: Outcome) -> int:
        """How many records ended in ``outcomes`` (all outcomes when none are named)."""
        return sum(count for outcome, count in self.counts.items() if not outcomes or outcome in outcomes)

    def topics(self) -> list[str]:
        return [physical_topic(name) for name in self.handlers.topics()]

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
        """Apply the batch's messages in one unit of work; records that cannot join it (not
        parsable, not for this service, invalid) are handled on their own in between."""
        batch: list[Applicable] = []
        for record in records:
            applicable = self._applicable(record)
            if applicable is None:
                self._apply_together(batch, handled)
                self.handle(record)
                handled.append(record)
            else:
                batch.append(applicable)
            if self.stop.is_set():
                break
        self._apply_together(batch, handled)

    def _applicable(self, record: KafkaRecord) -> Applicable | None:
        """The record, its envelope and its message if it can join a batch: parsable, handled
        here, valid."""
        try:
            envelope = Envelope.from_bytes(record.value())
            found = self.handlers.lookup(envelope.type)
            if found is None:
                return None
            return Applicable(record, envelope, envelope.open(found[0]))
        except ContractError:
            return None

    def _apply_together(self, batch: list[Applicable], handled: list[KafkaRecord]) -> None:
        """One unit of work for the batch (tried again without the messages the inbox knows);
        if it fails otherwise, the records one by one."""
        if not batch:
            return
        started = time.perf_counter()
        applied_before: set[uuid.UUID] = set()
        for _ in range(MAX_BATCH_ATTEMPTS):
            outcomes: list[Outcome] = []
            try:
                self.apply(batch, skip=applied_before, outcomes=outcomes)
                break
            except AppliedBefore as found:
                applied_before |= found.ids
                log.info(
                    "consumer %s: %d message(s) of a batch applied before; again without them",
                    self.service, len(found.ids),
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 -- replayed one by one below, with retries and dead letters
                log.info("consumer %s: batch of %d rolled back (%s); one by one", self.service, len(batch), exc)
                infrastructure = isinstance(exc, DatabaseError) and connection_lost(exc)
                if infrastructure:
                    reconnect()
                # The message that failed had its first attempt in the batch (unless the database did);
                # one its handler rejected is parked in its turn (the messages before it, applied on
                # their own, leave the data as the batch did: it would be rejected again).
                rejected = exc if isinstance(exc, MessageRejected) else None
                self._one_by_one(batch, handled, failed_at=-1 if infrastructure else len(outcomes), rejected=rejected)
                return
        else:
            self._one_by_one(batch, handled, failed_at=-1)
            return
        seconds = (time.perf_counter() - started) / len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            metrics.CONSUMER_SECONDS.labels(self.service).observe(seconds)
            self._count(outcome, item.envelope.type)
            handled.append(item.record)
        batch.clear()

    def apply(
        self,
        batch: list[Applicable],
        *,
        skip: set[uuid.UUID] = frozenset(),
        outcomes: list[Outcome] | None = None,
        publish: bool = True,
    ) -> list[Outcome]:
        """Apply ``batch`` in one unit of work, except the messages in ``skip`` (and a message
        that comes twice); raise :class:`AppliedBefore` if the inbox knew some of them. The
        outcomes go into ``outcomes`` as the handlers run (its length tells which one failed).
        ``publish``: the consumer's publisher produces the rows after the commit (else the relay)."""
        outcomes = [] if outcomes is None else outcomes
        seen = set(skip)
        traced = tracing.enabled()
        with (
            tracing.consuming_batch(self.service, [(item.record, item.envelope) for item in batch] if traced else ()),
            UnitOfWork(self.service, publisher=self.publisher if publish else None) as uow,
        ):
            for item in batch:
                if item.envelope.id in seen:
                    outcomes.append(Outcome.DUPLICATE)
                    continue
                seen.add(item.envelope.id)
                # Each message in a span of its own, a child of the span that published it.
                with tracing.consuming(self.service, item.record, item.envelope):
                    outcome = self.handlers.handle(item.envelope, uow, topic=item.record.topic(), message=item.message)
                outcomes.append(outcome)
        return outcomes

    def _one_by_one(
        self,
        batch: list[Applicable],
        handled: list[KafkaRecord],
        *,
        failed_at: int,
        rejected: MessageRejected | None = None,
    ) -> None:
        for index, item in enumerate(list(batch)):
            if index == failed_at and rejected is not None:
                self._dead_letter(item.record, item.envelope, _rejection(rejected), attempts=1)
            else:
                self.handle(item.record, failed_attempts=int(index == failed_at))
            handled.append(item.record)
        batch.clear()

    def _next_batch(self, timeout: float) -> list[KafkaRecord]:
        # consume(n, timeout) waits for n records or the timeout; wait for the first record
        # only, then take whatever else is already fetched, so a lone message is not delayed.
        first = self.kafka.poll(timeout)
        if first is None:
            return []
        return [first, *self.kafka.consume(num_messages=self.batch_size - 1, timeout=0)]

    def _mark_published(self) -> None:
        if self.publisher is None or not self.publisher.unmarked:
            return
        try:
            self.publisher.mark_unmarked(self.alias)
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
        """Apply one record on its own: retried, then dead-lettered (``failed_attempts``: how
        many attempts failed already)."""
        try:
            envelope = Envelope.from_bytes(record.value())
        except ContractError as exc:
            return self._dead_letter(record, None, f"malformed message: {exc}", attempts=1)
        found = self.handlers.lookup(envelope.type)
        if found is None:
            if message_class(envelope.type) is None:
                return self._dead_letter(record, envelope, f"unknown message type {envelope.type!r}", attempts=1)
            return self._count(Outcome.IGNORED, envelope.type)
        try:
            item = Applicable(record, envelope, envelope.open(found[0]))
        except ContractError as exc:
            return self._dead_letter(record, envelope, str(exc), attempts=1)
        attempt = failed_attempts
        if failed_attempts:
            metrics.CONSUMER_RETRIES.labels(self.service).inc()
        while True:
            attempt += 1
            try:
                with metrics.CONSUMER_SECONDS.labels(self.service).time():
                    # Records go one by one only after a failure: the relay publishes what they send.
                    (outcome,) = self.apply([item], publish=False)
                return self._count(outcome, envelope.type)
            except AppliedBefore:
                return self._count(Outcome.DUPLICATE, envelope.type)
            except MessageRejected as exc:
                return self._dead_letter(record, envelope, _rejection(exc), attempts=attempt)
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
        dead_letters.park(
            service=self.service,
            envelope=envelope,
            error=error,
            attempts=attempts,
            topic=record.topic(),
            partition=record.partition(),
            offset=record.offset(),
            key=key,
            body=body,
        )
        return self._count(Outcome.DEAD_LETTERED, envelope.type if envelope else "")


def _rejection(exc: MessageRejected) -> str:
    """A rejected message's dead-letter error: the reason alone (a traceback adds nothing)."""
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Applicable:
    """A record that can join a batch: opened, and handled by this service."""

    record: KafkaRecord
    envelope: Envelope
    message: Message
