"""The checks: what every service's database must agree on, each a function of :class:`Evidence`
returning the :class:`Disagreement` it finds (none when the services agree).

Sagas run while this reads, so a disagreement must not be a message still on its way. Two rules
keep the checks exact instead of guessing with timeouts alone:

* An order is judged only once it is *settled*: every message keyed by it (saga messages are keyed
  by the order id) that is in an outbox has been applied by every service that handles its type,
  and its last transition is older than the grace period. A settled order's services have seen
  everything the saga told them, so they must agree with it exactly.
* Each service's database is read in one snapshot (PostgreSQL: REPEATABLE READ, read only) that
  covers its tables, its outbox and its inbox, so that what a service did, what it sent and what
  it applied are seen at one moment. The orders snapshot is taken first, and every snapshot stays
  open until everything is read. A step another service takes after the orders snapshot (a
  top-up paying a charge, goods arriving) always sends orders a reply in the same transaction,
  which that service's snapshot shows in its outbox and the older orders inbox has not applied:
  the order is unsettled, not wrong.

Messages are judged when older than the grace period and younger than the inbox keeps ids minus a
margin (the relay prunes both sides by age; a row whose inbox id may be gone is not judged).
Deadlines are judged with the deadline checker's own settings, plus one check interval and the
grace period.

Each check is registered explicitly in :data:`CHECKS`; the arithmetic shared with the chaos suite's
invariants lives in :mod:`reconciliation.arithmetic`.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connections, transaction
from django.db.models import Sum

from billing.models import Account, Charge, LedgerEntry
from delivery.models import Courier, DeliveryRequest, SlotBooking
from lotus.bootstrap import handlers_for
from lotus.conf import lotus_settings
from lotus.db import database_now
from lotus.messaging.models import DeadLetter, InboxMessage, OutboxMessage
from lotus.topology import SERVICES, alias_for
from orders.models import Order
from reconciliation import arithmetic
from stock.models import Reservation, StockItem

Status = Order.Status
#: The rows a settled order in each state has in billing, stock and delivery (None: no row).
EXPECTED: dict[str, tuple[set[str | None], set[str | None], set[str | None]]] = {
    Status.VALIDATING_BILLING: ({Charge.Status.WAITING}, {None}, {None}),
    Status.VALIDATING_STOCK: ({Charge.Status.PAID}, {Reservation.Status.WAITING}, {None}),
    Status.VALIDATING_DELIVERY: ({Charge.Status.PAID}, {Reservation.Status.RESERVED}, {DeliveryRequest.Status.WAITING}),
    Status.NOTIFYING_SOURCE_SYSTEM: (
        {Charge.Status.PAID},
        {Reservation.Status.RESERVED},
        {DeliveryRequest.Status.RESERVED},
    ),
    Status.CANCELLED: (
        {Charge.Status.REFUNDED, Charge.Status.DROPPED},
        {None, Reservation.Status.RELEASED, Reservation.Status.WITHDRAWN},
        {None, DeliveryRequest.Status.RELEASED},
    ),
}
#: Inbox ids younger than the inbox's retention by less than this may be pruned before a run ends.
PRUNE_MARGIN = timedelta(hours=1)
CHUNK = 1000
#: How far the clocks of the processes that write rows may lag or lead the database's.
CLOCK_SKEW = timedelta(seconds=5)


@dataclass(frozen=True)
class Disagreement:
    kind: str
    message: str
    order_id: str | None = None
    row: str | None = None

    def line(self) -> str:
        subject = " ".join(part for part in (f"order {self.order_id}" if self.order_id else "", self.row or "") if part)
        return f"{self.kind}: {subject}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {**asdict(self), "line": self.line()}


@dataclass(frozen=True)
class Sent:
    """One outbox row: who sent it, and whether every service that handles its type applied it."""

    service: str
    row_id: int
    message_id: uuid.UUID
    message_type: str
    key: str
    created_at: datetime
    sent_at: datetime | None
    unapplied_by: tuple[str, ...]


@dataclass
class Evidence:
    """Every service's database, read once, in the saga's direction (see the module docstring)."""

    grace: timedelta
    now: datetime
    orders: dict[str, Order] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    accounts: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)  # customer, balance, ledger sum
    reservations: dict[str, Reservation] = field(default_factory=dict)
    stock: list[tuple[int, int, int, int]] = field(default_factory=list)  # product, on_hand, reserved, received
    requests: dict[str, DeliveryRequest] = field(default_factory=dict)
    bookings: list[tuple[int, datetime, int]] = field(default_factory=list)  # courier, slot, booked
    capacities: dict[int, int] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    dead_letters: dict[tuple[str, uuid.UUID], str] = field(default_factory=dict)  # (service, message id) -> error

    @classmethod
    def read(cls, *, grace: float) -> Evidence:
        # Orders first (its snapshot fixes "now"), then the services it commands; every snapshot
        # stays open until the outboxes and inboxes are read in it too.
        with ExitStack() as snapshots:
            snapshots.enter_context(snapshot("orders"))
            evidence = cls(grace=timedelta(seconds=grace), now=database_now(alias_for("orders"), current=True))
            evidence.orders = {str(order.id): order for order in Order.objects.all()}
            snapshots.enter_context(snapshot("billing"))
            evidence.charges = {str(charge.order_id): charge for charge in Charge.objects.all()}
            sums = dict(LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")).order_by())
            evidence.accounts = [
                (customer, balance, sums.get(pk) or Decimal(0))
                for pk, customer, balance in Account.objects.values_list("pk", "customer_id", "balance")
            ]
            snapshots.enter_context(snapshot("stock"))
            evidence.reservations = {str(row.order_id): row for row in Reservation.objects.all()}
            evidence.stock = list(StockItem.objects.values_list("product_id", "on_hand", "reserved", "received"))
            snapshots.enter_context(snapshot("delivery"))
            evidence.requests = {str(row.order_id): row for row in DeliveryRequest.objects.all()}
            evidence.bookings = list(SlotBooking.objects.values_list("courier_id", "slot", "booked"))
            evidence.capacities = dict(Courier.objects.values_list("id", "capacity_per_slot"))
            for service in ("profiles", "notifications"):
                snapshots.enter_context(snapshot(service))
            evidence.sent = _outboxes(evidence.now)
            evidence.dead_letters = {
                (service, message_id): error
                for service in SERVICES
                for message_id, error in DeadLetter.objects.using(alias_for(service))
                .filter(message_id__isnull=False, replayed_at__isnull=True)
                .values_list("message_id", "error")
            }
        return evidence

    def old(self, moment: datetime) -> bool:
        return moment <= self.now - self.grace

    def in_flight(self) -> set[str]:
        """Keys (order ids) of messages not yet applied by all their receivers."""
        return {sent.key for sent in self.sent if sent.unapplied_by}

    def settled(self) -> Iterable[tuple[str, Order]]:
        """The orders to judge: every message about them applied, their last step older than the grace."""
        moving = self.in_flight()
        return ((key, order) for key, order in self.orders.items() if key not in moving and self.old(order.updated_at))


@contextmanager
def snapshot(service: str) -> Iterator[None]:
    """Read one service's database in one read-only snapshot (PostgreSQL: REPEATABLE READ, fixed by
    the first query), so that counters and the rows they count (a balance and its ledger), and
    what the service did, sent and applied, are read at one moment."""
    alias = alias_for(service)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        # SQLite (make up without DATABASE_URL) opens every transaction IMMEDIATE, which would
        # take the file's write lock: read without one there (the laptop's best effort).
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=alias):
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _receivers() -> dict[str, tuple[str, ...]]:
    receivers: dict[str, list[str]] = defaultdict(list)
    for service in SERVICES:
        for message_type in handlers_for(service).message_types():
            receivers[message_type].append(service)
    return {message_type: tuple(services) for message_type, services in receivers.items()}


def _outboxes(now: datetime) -> list[Sent]:
    """Every outbox row an inbox still remembers the answer for, each with the services that have
    not applied it yet; read inside the open snapshots (:meth:`Evidence.read`)."""
    receivers = _receivers()
    kept_since = now - timedelta(hours=lotus_settings.INBOX["RETENTION_HOURS"]) + PRUNE_MARGIN
    rows = []
    for service in SERVICES:
        outbox = OutboxMessage.objects.using(alias_for(service)).filter(created_at__gte=kept_since).order_by("id")
        fields = ("id", "message_id", "message_type", "key", "created_at", "sent_at")
        rows += [(service, *values) for values in outbox.values_list(*fields)]
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for _, _, message_id, message_type, *_ in rows:
        for receiver in receivers.get(message_type, ()):
            wanted[receiver].add(message_id)
    applied: dict[str, set[uuid.UUID]] = {}
    for receiver, ids in wanted.items():
        inbox = InboxMessage.objects.using(alias_for(receiver))
        ordered = sorted(ids)
        applied[receiver] = {
            message_id
            for start in range(0, len(ordered), CHUNK)
            for message_id in inbox.filter(message_id__in=ordered[start : start + CHUNK]).values_list(
                "message_id", flat=True
            )
        }
    return [
        Sent(
            service,
            row_id,
            message_id,
            message_type,
            key,
            created_at,
            sent_at,
            tuple(r for r in receivers.get(message_type, ()) if message_id not in applied[r]),
        )
        for service, row_id, message_id, message_type, key, created_at, sent_at in rows
    ]


def order_states(evidence: Evidence) -> list[Disagreement]:
    """paid ⇔ a paid charge, reserved ⇔ a reserved item, in delivery ⇔ a booked slot, cancelled ⇔
    refunded (or dropped) and released; a cancelled order's refund is what billing gave back."""
    found = []
    for order_id, order in evidence.settled():
        expected = EXPECTED.get(order.status)
        if expected is None:  # Cancelling: in flight by definition; the deadline check watches it
            continue
        charge = evidence.charges.get(order_id)
        reservation = evidence.reservations.get(order_id)
        request = evidence.requests.get(order_id)
        for kind, row, allowed in zip(
            ("charge", "reservation", "delivery_request"), (charge, reservation, request), expected, strict=True
        ):
            status = None if row is None else row.status
            if status not in allowed:
                wanted = " or ".join(sorted(str(s) if s else "none" for s in allowed))
                found.append(
                    Disagreement(
                        kind,
                        f"order is {order.status}; {kind} is {status or 'missing'}, expected {wanted}",
                        order_id,
                        _row(kind, row),
                    )
                )
        if (
            charge is not None
            and charge.status in (Charge.Status.PAID, Charge.Status.REFUNDED)
            and charge.amount != order.price
        ):
            found.append(
                Disagreement(
                    "charge",
                    f"charged {charge.amount}, the order's price is {order.price}",
                    order_id,
                    _row("charge", charge),
                )
            )
        if order.status == Status.CANCELLED and charge is not None:
            given_back = charge.amount if charge.status == Charge.Status.REFUNDED else Decimal(0)
            if order.refunded != given_back:
                found.append(
                    Disagreement(
                        "refund",
                        f"orders says {order.refunded} refunded, billing gave back {given_back}",
                        order_id,
                        _row("charge", charge),
                    )
                )
    return found


def orphans(evidence: Evidence) -> list[Disagreement]:
    """Rows in billing, stock or delivery for an order that orders does not know (no saga asked for them)."""
    found = []
    for kind, rows in (
        ("charge", evidence.charges),
        ("reservation", evidence.reservations),
        ("delivery_request", evidence.requests),
    ):
        for order_id, row in rows.items():
            # An order placed after the orders snapshot may have its rows already: only rows
            # older than that snapshot (by a margin for the writers' clocks) are judged.
            if order_id not in evidence.orders and evidence.old(row.created_at + CLOCK_SKEW):
                found.append(
                    Disagreement(
                        "orphan", f"{kind} {row.status} for an order orders does not know", order_id, _row(kind, row)
                    )
                )
    return found


def ledgers(evidence: Evidence) -> list[Disagreement]:
    """Every account's ledger sums to its balance, which is never negative."""
    return [
        Disagreement("ledger", problem, row=f"account of customer {customer}")
        for customer, balance, total in evidence.accounts
        for problem in arithmetic.ledger_problems(balance, total)
    ]


def stock_counters(evidence: Evidence) -> list[Disagreement]:
    """received = on hand + reserved, and reserved = what the reservations hold."""
    held = [(r.product_id, r.quantity, r.status) for r in evidence.reservations.values()]
    return [
        Disagreement("stock_counter", problem, row=row)
        for row, problem in arithmetic.stock_problems(evidence.stock, held)
    ]


def slot_counters(evidence: Evidence) -> list[Disagreement]:
    """Each courier slot's counter = the requests holding it, within the courier's capacity."""
    holding = [(r.courier_id, r.slot, r.status) for r in evidence.requests.values()]
    return [
        Disagreement("slot_counter", problem, row=row)
        for row, problem in arithmetic.slot_problems(evidence.bookings, holding, evidence.capacities)
    ]


def messages_applied(evidence: Evidence) -> list[Disagreement]:
    """Every outbox row older than the grace period was applied by every service that handles its type."""
    found = []
    for sent in evidence.sent:
        if not sent.unapplied_by or not evidence.old(sent.created_at):
            continue
        for receiver in sent.unapplied_by:
            error = evidence.dead_letters.get((receiver, sent.message_id))
            state = "sent" if sent.sent_at else "never sent"
            why = f"; dead-lettered: {error.splitlines()[0][:200]}" if error else ""
            found.append(
                Disagreement(
                    "unapplied_message",
                    f"{sent.message_type} {sent.message_id} ({state}) not applied by {receiver}{why}",
                    sent.key if sent.key in evidence.orders else None,
                    f"{sent.service} outbox row {sent.row_id}",
                )
            )
    return found


def deadlines(evidence: Evidence) -> list[Disagreement]:
    """No order waits in a state longer than its deadline (plus one check interval and the grace)."""
    configured = lotus_settings.DEADLINES
    limits = {
        Status.VALIDATING_BILLING: configured["PAYMENT"],
        Status.VALIDATING_STOCK: configured["STOCK"],
        Status.VALIDATING_DELIVERY: configured["DELIVERY"],
        Status.CANCELLING: configured["CANCELLING"],
    }
    slack = timedelta(seconds=configured["CHECK_SECONDS"]) + evidence.grace
    found = []
    for order_id, order in evidence.orders.items():
        seconds = limits.get(order.status, 0)
        if seconds > 0 and order.updated_at < evidence.now - timedelta(seconds=seconds) - slack:
            waited = (evidence.now - order.updated_at).total_seconds()
            found.append(
                Disagreement(
                    "overdue", f"{order.status} for {waited:.0f} s, past its deadline of {seconds:g} s", order_id
                )
            )
    return found


def _row(kind: str, row: object | None) -> str | None:
    return None if row is None else f"{kind} {row.pk}"


Check = Callable[[Evidence], list[Disagreement]]

#: Every check a run makes, in the order its report lists them.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("order states match charges, reservations and delivery requests", order_states),
    ("no charge, reservation or delivery request without its order", orphans),
    ("every ledger sums to its balance", ledgers),
    ("stock counters match the reservations", stock_counters),
    ("courier slot counters match the delivery requests", slot_counters),
    ("every message in an outbox was applied by its receivers", messages_applied),
    ("no order waits past its deadline", deadlines),
)

#: Every kind of disagreement a check may report (the metrics export each, 0 included).
KINDS = (
    "charge",
    "reservation",
    "delivery_request",
    "refund",
    "orphan",
    "ledger",
    "stock_counter",
    "slot_counter",
    "unapplied_message",
    "overdue",
)


def counts(found: list[Disagreement]) -> dict[str, int]:
    return dict(Counter(d.kind for d in found))
