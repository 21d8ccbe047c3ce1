"""The unit of work: one transaction of one service, and everything it writes and sends.

The entrypoint opens it (an API view for a request, the consumer for a batch of messages, a
command for its step) and hands it to the service or handler as an argument::

    with UnitOfWork("billing") as uow:
        services.account_deposit(uow=uow, customer_id=customer, amount=amount)

Inside, the service reads and writes its database now (:meth:`locked`, :meth:`update`, the
ORM), *adds* rows that nothing reads back in the same transaction (:meth:`add`: ledger
entries, history), and *sends* messages (:meth:`send`). Added rows, the outbox rows of the
sent messages and, in a consumer, the ids of the applied messages (:meth:`handling`) are
written at the end by :meth:`flush`, in one statement on PostgreSQL (:func:`lotus.db.run_together`):
a batch of fifty messages costs one round trip for all of them. Then the transaction commits:
state, messages and inbox ids together, or nothing.

A message's envelope takes its correlation id (and Kafka key) from the message itself (the
saga it belongs to, :meth:`lotus.contracts.Message.key`), its causation id from the
message being handled, if any, and its trace context from the current span when tracing is on
(:mod:`lotus.tracing`); services never pass any of them.

**Publishing after the commit.** Without it, every message waits for the relay (a NOTIFY, a
wake-up in another process, a read, the produce, a write to mark it sent). So a unit of work
that owns its transaction and has a :class:`~lotus.messaging.producer.Publisher` *claims* its
outbox rows: they are written with ``claimed_until`` (``OUTBOX["CLAIM_SECONDS"]`` ahead on the
database's clock), and produced by this process right after the commit. The relay leaves a
claimed row alone until its claim lapses, and holds back the later rows of its key meanwhile,
so a key's messages keep their order; rows of a key that already had unsent rows are given
back before the commit (the same statement finds those keys). If the process dies or the
broker does not acknowledge, the claim lapses and the relay publishes the row: a duplicate at
worst, never a loss. Acknowledged rows are marked sent at once (a web request) or by the next
unit of work's statement (a consumer). This relies on the writers of a key serialising on a
lock of their own, as the apps' aggregates do (the order, the account, the stock item).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import models, transaction

from lotus import db, tracing
from lotus.conf import lotus_settings
from lotus.contracts import Envelope, Message
from lotus.messaging import inbox, outbox
from lotus.messaging.models import OutboxMessage
from lotus.messaging.producer import Publisher, web_publisher
from lotus.messaging.recovery import TRANSIENT
from lotus.topology import alias_for

log = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)

#: ``publisher=WEB``: the process's shared publisher when ``WEB["PUBLISHES"]`` is on.
WEB = "web"


class AppliedBefore(Exception):
    """Messages of a unit of work were in the inbox already (``ids``): it was rolled back."""

    def __init__(self, ids: set[uuid.UUID]) -> None:
        super().__init__(f"{len(ids)} message(s) applied before")
        self.ids = ids


class UnitOfWorkError(RuntimeError):
    """The unit of work was used outside its ``with`` block."""


class UnitOfWork:
    """One transaction on ``service``'s database (see the module docstring).

    ``publisher``: who produces the claimed rows after the commit: :data:`WEB` (the default:
    a request or a command), a consumer's own, or None (the relay publishes everything)."""

    def __init__(self, service: str, *, publisher: Publisher | str | None = WEB) -> None:
        self.service = service
        self.alias = alias_for(service)
        self._publisher = publisher
        #: The messages sent, in order, and their envelopes.
        self.sent: list[Message] = []
        self.envelopes: list[Envelope] = []
        #: The message being handled (:meth:`handling`).
        self.cause: Envelope | None = None
        self._added: list[models.Model] = []
        self._outgoing: list[tuple[Envelope, str]] = []
        self._applied: list[tuple[Envelope, str]] = []
        self._claimed: list[OutboxMessage] = []
        self._marking: list[int] = []
        self._atomic: transaction.Atomic | None = None
        self._owns_transaction = False

    # -- the transaction ---------------------------------------------------------------------
    def __enter__(self) -> UnitOfWork:
        self._owns_transaction = not transaction.get_connection(self.alias).in_atomic_block
        self._atomic = transaction.atomic(using=self.alias)
        self._atomic.__enter__()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        atomic, self._atomic = self._atomic, None
        if exc_type is None:
            try:
                self.flush()
            except BaseException as error:
                atomic.__exit__(type(error), error, error.__traceback__)
                self._rolled_back()
                raise
        try:
            atomic.__exit__(exc_type, exc, traceback)
        except BaseException:
            self._rolled_back()
            raise
        if exc_type is not None:
            self._rolled_back()
            return
        self._publish_claimed()

    @property
    def publisher(self) -> Publisher | None:
        if self._publisher == WEB:
            self._publisher = web_publisher() if lotus_settings.WEB["PUBLISHES"] else None
        return self._publisher

    # -- what a service does -----------------------------------------------------------------
    def send(self, *messages: Message) -> list[Envelope]:
        """Send ``messages``, in order, when the transaction commits (written to the outbox)."""
        self._require_open()
        envelopes = []
        for message in messages:
            correlation = message.key() or (self.cause.correlation_id if self.cause else str(uuid.uuid4()))
            envelope = Envelope.wrap(
                message,
                source=self.service,
                correlation_id=correlation,
                causation_id=self.cause.id if self.cause else None,
                traceparent=tracing.traceparent(),
            )
            self._outgoing.append((envelope, message.topic))
            self.sent.append(message)
            envelopes.append(envelope)
        self.envelopes += envelopes
        return envelopes

    def add(self, *rows: models.Model) -> None:
        """Insert new ``rows`` at the end of the unit of work, in the order given. Until then
        they are not in the database and have no generated primary key: add only rows that
        nothing reads back in the same transaction (ledger entries, history)."""
        self._require_open()
        self._added += rows

    @contextmanager
    def handling(self, envelope: Envelope, *, topic: str = "") -> Iterator[None]:
        """Handle ``envelope`` inside the block: what is sent is caused by it, and if the block
        succeeds its id goes into the inbox with the unit of work's writes (:class:`AppliedBefore`
        at the end if it was there already)."""
        self.cause = envelope
        try:
            yield
        finally:
            self.cause = None
        self._applied.append((envelope, topic))

    # Reads and writes that happen now, on this unit of work's database (lotus.db).
    def get(self, model: type[M], **equal: object) -> M | None:
        return db.get(model, using=self.alias, **equal)

    def locked(self, model: type[M], **equal: object) -> M | None:
        return db.locked(model, using=self.alias, **equal)

    def select(
        self, model: type[M], *, for_update: bool = False, order_by: tuple[str, ...] = (), **conditions
    ) -> list[M]:
        return db.select(model, using=self.alias, for_update=for_update, order_by=order_by, **conditions)

    def exists(self, model: type[models.Model], **conditions: object) -> bool:
        return db.exists(model, using=self.alias, **conditions)

    def update(self, instance: models.Model, fields: list[str]) -> None:
        db.update(instance, fields, using=self.alias)

    def insert(self, *rows: models.Model) -> None:
        """Insert ``rows`` now (unlike :meth:`add`), setting their primary keys."""
        db.insert(list(rows), using=self.alias)

    def insert_unless_present(self, instance: models.Model, *, unique_fields: tuple[str, ...]) -> bool:
        return db.insert_unless_present(instance, unique_fields=unique_fields, using=self.alias)

    def waited_longer_than(self, seconds: float):
        return db.waited_longer_than(seconds, using=self.alias)

    # -- the end -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the added rows, the outbox rows and the inbox ids (one statement on
        PostgreSQL); claim the outbox rows for publishing after the commit."""
        envelopes = [envelope for envelope, _ in self._outgoing]
        rows = outbox.rows_for(envelopes, topics=[topic for _, topic in self._outgoing])
        # Only a unit of work that owns its transaction knows when it commits. The process's
        # publisher (made on first use) only matters when there is something to publish.
        wanted = self._owns_transaction and (rows or self._publisher != WEB)
        publisher = self.publisher if wanted else None
        statements: list[db.Statement] = []
        if publisher and publisher.defer_marks:
            self._marking = publisher.take_unmarked()
            if self._marking:
                statements.append(outbox.mark_sent_statement(self.alias, self._marking))
        waiting_at = None
        if publisher and rows:
            until = db.DatabaseNow(lotus_settings.OUTBOX["CLAIM_SECONDS"])
            for row in rows:
                row.claimed_until = until
            waiting_at = len(statements)
            keys = sorted({row.key for row in rows})
            statements.append(outbox.keys_waiting_statement(self.alias, keys, besides=self._marking))
        chunks: list[tuple[int, list[models.Model]]] = []
        for group in _by_model(self._added + rows):
            for start in range(0, len(group), db.CHUNK):
                chunk = group[start : start + db.CHUNK]
                chunks.append((len(statements), chunk))
                statements.append(db.insert_statement(chunk, using=self.alias))
        inbox_at = None
        if self._applied:
            inbox_at = len(statements)
            statements.append(inbox.record_statement(self.alias, self._applied))
        if not statements:
            return
        with tracing.span(f"{self.service} outbox write", **{"lotus.messages": len(rows)}):
            results = db.run_together(statements, using=self.alias)
        for index, chunk in chunks:
            db.set_keys(chunk, results[index], using=self.alias)
        if inbox_at is not None:
            missing = {envelope.id for envelope, _ in self._applied} - {uuid.UUID(v) for v in results[inbox_at]}
            if missing:
                raise AppliedBefore(missing)
        if waiting_at is not None:
            waiting = set(results[waiting_at])
            given_back = [row.pk for row in rows if row.key in waiting]
            if given_back:
                outbox.give_back(self.alias, given_back)
            self._claimed = [row for row in rows if row.key not in waiting]
        self._added, self._outgoing, self._applied = [], [], []

    def _publish_claimed(self) -> None:
        claimed, self._claimed, self._marking = self._claimed, [], []
        if not claimed:
            return
        rows = [outbox.as_row(row) for row in claimed]
        publisher = self.publisher
        try:
            produced = publisher.produce(rows)
            if produced.delivered:
                publisher.published_after_commit(self.alias, produced.delivered)
        except TRANSIENT as exc:
            # The rows are committed: the relay publishes them when their claims lapse.
            log.warning("%s %s: publishing after the commit failed (%s)", publisher.who, self.service, exc)
            return
        if len(produced.delivered) < len(rows):
            log.warning(
                "%s %s: %d of %d rows not acknowledged; the relay publishes them when their claims lapse",
                publisher.who, self.service, len(rows) - len(produced.delivered), len(rows),
            )  # fmt: skip
        if publisher.counter is not None:
            publisher.counter.labels(self.service).inc(len(produced.delivered))

    def _rolled_back(self) -> None:
        """Nothing was written: the rows the flush was to mark sent still wait to be marked."""
        if self._marking and self.publisher:
            self.publisher.untake(self._marking)
        self._marking, self._claimed = [], []
        self._added, self._outgoing, self._applied = [], [], []

    def _require_open(self) -> None:
        if self._atomic is None:
            raise UnitOfWorkError(f"use the unit of work of {self.service} inside its with block")


def _by_model(rows: list[models.Model]) -> list[list[models.Model]]:
    """Rows grouped by model, groups in the order of their first row, rows in order."""
    groups: dict[type[models.Model], list[models.Model]] = {}
    for row in rows:
        groups.setdefault(type(row), []).append(row)
    return list(groups.values())
