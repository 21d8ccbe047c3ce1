"""Outbox rows → Kafka: produce them in order, wait for the broker, say which made it.

Used by the relay, by a web request and by a consumer (after their commit): the one place
that talks to the Kafka producer. :meth:`Publisher.produce` never raises for a row: a row the
broker or the client refuses is reported in :attr:`Produced.errors`, and no later row of its
key is produced, so that a key's messages never overtake one another. Only rows acknowledged
with nothing unacknowledged of their key before them are :attr:`Produced.delivered`: those
alone may be marked sent.

The producer is idempotent (``enable.idempotence``, ``acks=all``): a retry inside the client
never duplicates or reorders a record. A duplicate can still come from a crash between the
acknowledgement and marking the row sent; consumers drop it by message id.

Every record carries the headers ``type``, ``id`` and ``correlation_id`` and, when tracing is on,
``traceparent``: the context of its ``<topic> publish`` span (:mod:`lotus.tracing`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as KafkaProducer
from prometheus_client import Counter

from lotus import metrics, tracing
from lotus.conf import lotus_settings
from lotus.messaging import outbox
from lotus.messaging.kafka import make_producer
from lotus.messaging.outbox import Row

log = logging.getLogger(__name__)

#: Errors that say the cluster cannot take writes now, whatever the record: no leader for the
#: partition, fewer in-sync replicas than ``min.insync.replicas`` (two brokers of three down), or
#: no answer in time. A row refused so is not at fault and is never parked for them.
UNAVAILABLE = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)


@dataclass
class Produced:
    """What the broker made of some rows: those to mark sent, and the refusals by row id."""

    delivered: list[Row] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    #: The refused rows whose error is the cluster's (:data:`UNAVAILABLE`), not theirs.
    unavailable: set[int] = field(default_factory=set)
    #: The client failed for good (librdkafka's fatal errors) and was replaced.
    fatal: bool = False


class Publisher:
    """A Kafka producer for outbox rows, named ``who`` in the log.

    ``defer_marks``: rows produced after a commit (:meth:`published`) are remembered and marked
    sent by the next unit of work's statement (a consumer, which writes again soon) instead of
    with a statement of their own at once (a web request)."""

    def __init__(
        self,
        who: str,
        *,
        client: KafkaProducer | None = None,
        timeout: float = 30.0,
        defer_marks: bool = False,
        counter: Counter | None = None,
    ) -> None:
        self.who = who
        #: Counts the rows published after a commit, by service.
        self.counter = counter
        self._client = client
        self.timeout = timeout
        self.defer_marks = defer_marks
        #: Rows acknowledged after a commit and not marked sent yet (``defer_marks`` only).
        self.unmarked: list[int] = []
        self.published = 0

    @property
    def client(self) -> KafkaProducer:
        if self._client is None:
            self._client = make_producer()
        return self._client

    def connect(self, timeout: float = 10.0) -> None:
        """Make the client now, so the first rows do not wait for its connection. A broker that
        is not there yet is not fatal: the client keeps trying by itself."""
        try:
            self.client.list_topics(timeout=timeout)
        except KafkaException as exc:
            log.warning("%s: no broker yet (%s); carrying on", self.who, exc)

    def broker_answers(self) -> bool:
        """Whether the broker answers a metadata request (a refusal is then the row's fault)."""
        try:
            self.client.list_topics(timeout=5)
        except KafkaException:
            return False
        return True

    def produce(self, rows: list[Row], *, timeout: float | None = None) -> Produced:
        """Produce ``rows`` in order and wait up to ``timeout`` for the broker."""
        produced = Produced()
        acked: set[int] = set()
        client = self.client
        spans = tracing.publishing(self.who)

        def on_delivery(row_id: int):
            def callback(error: KafkaError | None, _message: object) -> None:
                if error is None:
                    acked.add(row_id)
                else:
                    produced.errors[row_id] = error.str()
                    produced.fatal = produced.fatal or error.fatal()
                    if error.code() in UNAVAILABLE:
                        produced.unavailable.add(row_id)
                if spans is not None:
                    spans.answered(row_id, None if error is None else error.str())

            return callback

        refused_keys: set[str] = set()
        for row in rows:
            if row.key in refused_keys:
                continue
            headers = [("type", row.message_type), ("id", row.message_id), ("correlation_id", row.key)]
            if spans is not None:
                # The publish span's context: the consumer's span becomes its child.
                headers.append(("traceparent", spans.start(
                    row_id=row.id, topic=row.topic, key=row.key, body=row.body,
                    message_id=row.message_id, message_type=row.message_type,
                )))  # fmt: skip
            while True:
                try:
                    client.produce(
                        row.topic, value=row.body, key=row.key, headers=headers, on_delivery=on_delivery(row.id)
                    )
                    break
                except BufferError:
                    client.poll(0.1)
                except KafkaException as exc:
                    produced.errors[row.id] = (
                        exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
                    )
                    refused_keys.add(row.key)
                    if spans is not None:
                        spans.answered(row.id, produced.errors[row.id])
                    break
        remaining = client.flush(self.timeout if timeout is None else timeout)
        if remaining:
            log.warning("%s: %d messages still in flight", self.who, remaining)
        if spans is not None:
            spans.finish()
        for row_id, error in produced.errors.items():
            log.error("%s: outbox row %s not published: %s", self.who, row_id, error)
        blocked: set[str] = set()
        for row in rows:
            if row.key in blocked:
                continue
            if row.id in acked:
                produced.delivered.append(row)
            else:
                blocked.add(row.key)
        if produced.fatal:
            log.error("%s: the producer failed for good; making a new one", self.who)
            self._client = None
        self.published += len(produced.delivered)
        return produced

    def published_after_commit(self, alias: str, rows: list[Row]) -> None:
        """``rows`` were acknowledged after their unit of work committed: mark them sent now,
        or leave them to the next unit of work (``defer_marks``)."""
        ids = [row.id for row in rows]
        if self.defer_marks:
            self.unmarked += ids
        else:
            outbox.mark_sent(alias, ids)

    def take_unmarked(self) -> list[int]:
        """The rows to mark sent, handed to a unit of work (given back by :meth:`untake` if it
        rolls back)."""
        taken, self.unmarked = self.unmarked, []
        return taken

    def untake(self, ids: list[int]) -> None:
        self.unmarked = ids + self.unmarked

    def mark_unmarked(self, alias: str) -> None:
        """Mark sent now what waits for the next unit of work (an idle or stopping consumer)."""
        ids = self.take_unmarked()
        try:
            outbox.mark_sent(alias, ids)
        except BaseException:
            self.untake(ids)
            raise


_web: Publisher | None = None
_web_lock = threading.Lock()


def web_publisher() -> Publisher:
    """The process's publisher for web requests (thread-safe; made on first use, after a
    fork): no lingering, and a request waits at most ``WEB["PUBLISH_WAIT_SECONDS"]``."""
    global _web
    with _web_lock:
        if _web is None:
            _web = Publisher(
                "web",
                client=make_producer(**{"linger.ms": 0}),
                timeout=lotus_settings.WEB["PUBLISH_WAIT_SECONDS"],
                counter=metrics.REQUEST_PUBLISHED,
            )
        return _web
