"""Reads of whole sagas across every service's database: one order's trail, and the stuck ones.

Everything here is read-only and reads each database through its own alias (the router sends a
service's models to its database; the messaging tables are named explicitly with
``.using(alias)``). Rows are matched by the order id: the services' rows carry it (``order_id``),
and every message of a saga carries it as its correlation id, which is also its outbox row's
``key``. Outbox and inbox rows are pruned after their retention (``LOTUS_OUTBOX_RETENTION_HOURS``,
``LOTUS_INBOX_RETENTION_HOURS``): for an older saga the trail shows what is left, and says so.

The outbox has no index on ``key`` (an index would cost every write of the hot path), so a trail
reads each outbox by a scan of its retained rows: fine for an operator's page, not for a loop.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.db.models.functions import Now
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from billing.models import Account, Charge, LedgerEntry
from delivery.models import DeliveryRequest, SlotBooking
from lotus.conf import lotus_settings
from lotus.messaging.models import DeadLetter, InboxMessage, OutboxMessage
from lotus.topology import SERVICES, alias_for
from notifications.models import Notification
from orders.models import CANCELLABLE, Order, OrderTransition
from stock.models import Reservation, StockItem

#: W3C trace context: version 00, a 32-hex trace id (not all zeros), a 16-hex parent id, flags.
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")

#: The states an order waits in, and what for (the stuck list's groups, in the saga's order).
WAITING = {
    Order.Status.VALIDATING_BILLING: "the payment (a top-up, or billing)",
    Order.Status.VALIDATING_STOCK: "the stock reservation (goods, or stock)",
    Order.Status.VALIDATING_DELIVERY: "a courier (an operator's acceptance, a free slot, or delivery)",
    Order.Status.CANCELLING: "the compensations (refund, release)",
}
#: The deadline (``lotus_settings.DEADLINES``) of each waiting state.
DEADLINE_OF = {
    Order.Status.VALIDATING_BILLING: "PAYMENT",
    Order.Status.VALIDATING_STOCK: "STOCK",
    Order.Status.VALIDATING_DELIVERY: "DELIVERY",
    Order.Status.CANCELLING: "CANCELLING",
}
#: Compensations a cancel asks for, by the state it left (as ``Order.cancel`` decides them).
COMPENSATED_FROM = {
    Order.Status.VALIDATING_BILLING: ("billing",),
    Order.Status.VALIDATING_STOCK: ("billing", "stock"),
    Order.Status.VALIDATING_DELIVERY: ("billing", "stock", "delivery"),
}
#: Most orders one group of the stuck list shows (the oldest first); the count says how many there are.
STUCK_LIMIT = 200


def admin_url(model: type, pk: object, *, app_label: str | None = None) -> str:
    """The admin change page of a row, or "" when its model has no admin page."""
    label = app_label or model._meta.app_label
    try:
        return reverse(f"admin:{label}_{model._meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return ""


def _proxy_url(service: str, base: str, pk: object) -> str:
    """The admin page of a messaging row in ``service``'s database (its per-service proxy)."""
    try:
        return reverse(f"admin:messaging_{service}{base.lower()}_change", args=[pk])
    except NoReverseMatch:
        return ""


def trace_id_of(traceparent: object) -> str | None:
    """The trace id of a W3C ``traceparent`` value, or None when it is missing or malformed."""
    if not isinstance(traceparent, str):
        return None
    match = TRACEPARENT.match(traceparent.strip().lower())
    if match is None or set(match.group(1)) == {"0"}:
        return None
    return match.group(1)


def trace_url(trace_id: str) -> str:
    """The configured trace viewer's page of ``trace_id`` ("" when none is configured)."""
    template = lotus_settings.ADMIN["TRACE_VIEWER_URL"]
    return template.replace("{trace_id}", trace_id) if template else ""


@dataclass
class Applied:
    """Where a message was applied: a row of a service's inbox."""

    service: str
    processed_at: datetime
    url: str


@dataclass
class SagaMessage:
    """A message of the saga, from the outbox row of the service that produced it."""

    id: uuid.UUID
    type: str
    service: str
    topic: str
    created_at: datetime
    sent_at: datetime | None
    parked_at: datetime | None
    causation_id: uuid.UUID | None
    trace_id: str | None
    url: str
    applied: list[Applied] = field(default_factory=list)

    @property
    def dead_letter_copy(self) -> bool:
        return self.topic.endswith(".deadletter")

    @property
    def first_applied_at(self) -> datetime | None:
        return min((applied.processed_at for applied in self.applied), default=None)

    @property
    def waited_in_outbox(self) -> timedelta | None:
        return _outbox_wait(self.created_at, self.sent_at, self.first_applied_at)

    @property
    def waited_in_kafka(self) -> timedelta | None:
        """From its publication to the first inbox that applied it."""
        return _kafka_wait(self.sent_at, self.first_applied_at)

    @property
    def written_to_applied(self) -> timedelta | None:
        applied = self.first_applied_at
        return applied - self.created_at if applied else None


def _outbox_wait(created: datetime, sent: datetime | None, applied: datetime | None) -> timedelta | None:
    """``sent_at - created_at``, unless the sent mark came after the receiver applied the message:
    a consumer marks the rows it published with its next batch, so then the mark says only
    "published by then" (None: the total, written → applied, is what is known)."""
    if sent is None or (applied is not None and sent > applied):
        return None
    return sent - created


def _kafka_wait(sent: datetime | None, applied: datetime | None) -> timedelta | None:
    if sent is None or applied is None or sent > applied:
        return None
    return applied - sent


@dataclass
class Step:
    """One transition of the order with the message that caused it and what it emitted."""

    transition: OrderTransition
    #: ``message``: caused by a message; ``request``: by a request, the operator or the deadline
    #: checker (no message); ``unrecorded``: recorded before transitions named their cause.
    kind: str
    cause: SagaMessage | None
    #: When orders applied the causing message (its inbox row), if the row is still there.
    applied_at: datetime | None
    emitted: list[SagaMessage]

    @property
    def waited_in_outbox(self) -> timedelta | None:
        return _outbox_wait(self.cause.created_at, self.cause.sent_at, self.applied_at) if self.cause else None

    @property
    def waited_in_kafka(self) -> timedelta | None:
        return _kafka_wait(self.cause.sent_at, self.applied_at) if self.cause else None

    @property
    def written_to_applied(self) -> timedelta | None:
        """From the cause's outbox row to orders applying it: the whole hop."""
        if self.cause is None or self.applied_at is None:
            return None
        return self.applied_at - self.cause.created_at


@dataclass
class Related:
    """A row of another service that belongs to the saga."""

    service: str
    what: str
    text: str
    url: str


@dataclass
class Compensation:
    """One compensation a cancel asked for, and where it stands."""

    service: str
    confirmed: bool
    state: str


@dataclass
class Letter:
    """A dead letter of the saga, in ``service``'s database."""

    service: str
    letter: DeadLetter
    url: str


@dataclass
class Trail:
    order: Order
    steps: list[Step]
    messages: list[SagaMessage]
    related: list[Related]
    compensations: list[Compensation]
    dead_letters: list[Letter]
    notifications: list[Notification]
    trace_ids: list[str]
    delivery_waits_for_operator: bool
    #: Why the order waits, when it is in a waiting state (as the stuck list says it).
    waits: str

    @property
    def can_cancel(self) -> bool:
        return self.order.status in CANCELLABLE

    @property
    def traces(self) -> list[tuple[str, str]]:
        return [(trace_id, trace_url(trace_id)) for trace_id in self.trace_ids]


def saga_trail(*, order_id: uuid.UUID) -> Trail | None:
    """The trail of one order's saga across every service (None: orders does not know it)."""
    order = Order.objects.filter(id=order_id).first()
    if order is None:
        return None
    key = str(order.id)
    transitions = list(OrderTransition.objects.filter(order_id=order.id).order_by("id"))
    messages = _messages(key)
    by_id = {message.id: message for message in messages}
    _applied(list(by_id) + [t.message_id for t in transitions if t.message_id], messages)
    orders_inbox = {
        row.message_id: row.processed_at
        for row in InboxMessage.objects.using(alias_for("orders")).filter(
            message_id__in=[t.message_id for t in transitions if t.message_id]
        )
    }
    steps = _steps(transitions, messages, by_id, orders_inbox)
    related, delivery = _related(order)
    return Trail(
        order=order,
        steps=steps,
        messages=messages,
        related=related,
        compensations=_compensations(order, transitions, related),
        dead_letters=_dead_letters(key),
        notifications=list(Notification.objects.filter(order_id=order.id).order_by("id")),
        trace_ids=list(dict.fromkeys(m.trace_id for m in messages if m.trace_id)),
        waits=_reasons(order.status, [order]).get(order.id, "") if order.status in WAITING else "",
        delivery_waits_for_operator=bool(
            delivery is not None
            and delivery.status == DeliveryRequest.Status.WAITING
            and order.status == Order.Status.VALIDATING_DELIVERY
        ),
    )


def _messages(key: str) -> list[SagaMessage]:
    """Every outbox row of the saga in every service's database, oldest first."""
    messages = []
    for service in SERVICES:
        for row in OutboxMessage.objects.using(alias_for(service)).filter(key=key):
            body = _body(row.body)
            messages.append(
                SagaMessage(
                    id=row.message_id,
                    type=row.message_type,
                    service=service,
                    topic=row.topic,
                    created_at=row.created_at,
                    sent_at=row.sent_at,
                    parked_at=row.parked_at,
                    causation_id=_uuid(body.get("causation_id")),
                    trace_id=trace_id_of(body.get("traceparent")),
                    url=_proxy_url(service, "OutboxMessage", row.pk),
                )
            )
    messages.sort(key=lambda message: (message.created_at, message.service))
    return messages


def _applied(message_ids: list[uuid.UUID], messages: list[SagaMessage]) -> None:
    """Fill in where each message was applied (every service's inbox)."""
    by_id = defaultdict(list)
    for message in messages:
        by_id[message.id].append(message)
    for service in SERVICES:
        for row in InboxMessage.objects.using(alias_for(service)).filter(message_id__in=message_ids):
            applied = Applied(service, row.processed_at, _proxy_url(service, "InboxMessage", row.pk))
            for message in by_id.get(row.message_id, []):
                message.applied.append(applied)


def _steps(
    transitions: list[OrderTransition],
    messages: list[SagaMessage],
    by_id: dict[uuid.UUID, SagaMessage],
    orders_inbox: dict[uuid.UUID, datetime],
) -> list[Step]:
    """Pair each transition with its cause and the messages orders sent while making it: those
    caused by the same message, or, for a step no message caused, orders' uncaused messages
    written from its time until the next step's."""
    caused = defaultdict(list)
    uncaused = []
    for message in messages:
        if message.service != "orders":
            continue
        if message.causation_id is None:
            uncaused.append(message)
        else:
            caused[message.causation_id].append(message)
    steps = []
    for index, transition in enumerate(transitions):
        if transition.message_id is not None:
            kind, cause = "message", by_id.get(transition.message_id)
            emitted = caused.get(transition.message_id, [])
        else:
            kind = "unrecorded" if transition.message_source is None else "request"
            cause = None
            later = transitions[index + 1].at if index + 1 < len(transitions) else None
            emitted = [
                message
                for message in uncaused
                if message.created_at >= transition.at and (later is None or message.created_at < later)
            ]
        steps.append(Step(transition, kind, cause, orders_inbox.get(transition.message_id), emitted))
    return steps


def _related(order: Order) -> tuple[list[Related], DeliveryRequest | None]:
    """The saga's rows in billing, stock and delivery, with their admin pages."""
    related = []
    charge = Charge.objects.select_related("account").filter(order_id=order.id).first()
    if charge is not None:
        related.append(Related("billing", "charge", f"{charge.amount}: {charge.status}", admin_url(Charge, charge.pk)))
        account = charge.account
        related.append(
            Related(
                "billing",
                "account",
                f"customer {account.customer_id}, balance {account.balance}",
                admin_url(Account, account.pk),
            )
        )
    for entry in LedgerEntry.objects.filter(order_id=order.id).order_by("id"):
        related.append(
            Related(
                "billing", "ledger entry", f"{entry.kind} {entry.amount} at {entry.created_at:%Y-%m-%d %H:%M:%S} UTC",
                admin_url(Account, entry.account_id),
            )
        )  # fmt: skip
    reservation = Reservation.objects.filter(order_id=order.id).first()
    if reservation is not None:
        related.append(
            Related(
                "stock",
                "reservation",
                f"{reservation.quantity} x product {reservation.product_id}: {reservation.status}",
                admin_url(Reservation, reservation.pk),
            )
        )
        item = StockItem.objects.filter(product_id=reservation.product_id).first()
        if item is not None:
            related.append(Related("stock", "stock item", str(item), admin_url(StockItem, item.pk)))
    delivery = DeliveryRequest.objects.filter(order_id=order.id).first()
    if delivery is not None:
        text = f"{delivery.status}{' (manual)' if delivery.manual else ''}"
        if delivery.reason:
            text += f": {delivery.reason}"
        related.append(Related("delivery", "delivery request", text, admin_url(DeliveryRequest, delivery.pk)))
        if delivery.courier_id and delivery.slot:
            booking = SlotBooking.objects.filter(courier_id=delivery.courier_id, slot=delivery.slot).first()
            if booking is not None:
                related.append(
                    Related(
                        "delivery",
                        "slot booking",
                        f"courier {booking.courier_id} at {booking.slot:%Y-%m-%d %H:%M} UTC: {booking.booked} booked",
                        admin_url(SlotBooking, booking.pk),
                    )
                )
    return related, delivery


def _compensations(order: Order, transitions: list[OrderTransition], related: list[Related]) -> list[Compensation]:
    """What the cancel asked each service to undo, and the state of the row it undoes."""
    cancel = next((t for t in transitions if t.target == Order.Status.CANCELLING and t.source != t.target), None)
    if cancel is None:
        return []
    rows = {
        "billing": next((r.text for r in related if r.what == "charge"), "no charge (nothing was taken)"),
        "stock": next((r.text for r in related if r.what == "reservation"), "no reservation"),
        "delivery": next((r.text for r in related if r.what == "delivery request"), "no delivery request"),
    }
    refunds = [r.text for r in related if r.what == "ledger entry" and r.text.startswith("refund")]
    if refunds:
        rows["billing"] += "; " + "; ".join(refunds)
    return [
        Compensation(service, service not in order.pending_compensations, rows[service])
        for service in COMPENSATED_FROM.get(cancel.source, ())
    ]


def _dead_letters(key: str) -> list[Letter]:
    """Dead letters of the saga in every database: keyed by the order, or naming it in their body."""
    letters = []
    for service in SERVICES:
        found = DeadLetter.objects.using(alias_for(service)).filter(Q(key=key) | Q(body__contains=key))
        letters += [Letter(service, letter, _proxy_url(service, "DeadLetter", letter.pk)) for letter in found]
    letters.sort(key=lambda letter: letter.letter.created_at)
    return letters


def _body(text: str) -> dict:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# -- stuck sagas -----------------------------------------------------------------------------


@dataclass
class StuckOrder:
    order: Order
    waited: timedelta
    reason: str


@dataclass
class StuckGroup:
    state: str
    waits_for: str
    deadline: str
    count: int
    orders: list[StuckOrder]


def stuck_sagas(*, older_than: float | None = None) -> list[StuckGroup]:
    """Orders in a waiting state for longer than ``older_than`` seconds (default
    ``ADMIN["STUCK_AFTER_SECONDS"]``; by the database's clock), grouped by state in the saga's
    order, the longest waiting first, each with the reason it waits."""
    seconds = lotus_settings.ADMIN["STUCK_AFTER_SECONDS"] if older_than is None else older_than
    now = timezone.now()
    groups = []
    for state, waits_for in WAITING.items():
        found = Order.objects.filter(status=state, updated_at__lt=Now() - timedelta(seconds=seconds))
        count = found.count()
        orders = list(found.order_by("updated_at")[:STUCK_LIMIT]) if count else []
        reasons = _reasons(state, orders)
        deadline = lotus_settings.DEADLINES[DEADLINE_OF[state]]
        groups.append(
            StuckGroup(
                state=state,
                waits_for=waits_for,
                deadline=f"{deadline:g} s" if deadline > 0 else "none",
                count=count,
                orders=[StuckOrder(order, now - order.updated_at, reasons[order.id]) for order in orders],
            )
        )
    return groups


def _reasons(state: str, orders: list[Order]) -> dict[uuid.UUID, str]:
    """Why each order waits, from the rows of the service it waits for (a few queries per group)."""
    ids = [order.id for order in orders]
    if not ids:
        return {}
    reasons = {}
    if state == Order.Status.VALIDATING_BILLING:
        charges = {c.order_id: c for c in Charge.objects.select_related("account").filter(order_id__in=ids)}
        for order in orders:
            charge = charges.get(order.id)
            if charge is None:
                reasons[order.id] = (
                    "billing has not applied ChargeOrder yet (see the orders outbox and billing's consumer)"
                )
            elif charge.status == Charge.Status.WAITING:
                reasons[order.id] = (
                    f"waiting for a top-up: the charge of {charge.amount} waits, balance {charge.account.balance}"
                )
            else:
                reasons[order.id] = f"the charge is {charge.status}; orders has not applied billing's reply yet"
    elif state == Order.Status.VALIDATING_STOCK:
        reservations = {r.order_id: r for r in Reservation.objects.filter(order_id__in=ids)}
        items = {i.product_id: i for i in StockItem.objects.filter(product_id__in={o.product_id for o in orders})}
        for order in orders:
            reservation = reservations.get(order.id)
            if reservation is None:
                reasons[order.id] = (
                    "stock has not applied ReserveStock yet (see the orders outbox and stock's consumer)"
                )
            elif reservation.status == Reservation.Status.WAITING:
                item = items.get(order.product_id)
                on_hand = item.on_hand if item else 0
                reasons[order.id] = f"waiting for stock: product {order.product_id} has {on_hand} on hand"
            else:
                reasons[order.id] = f"the reservation is {reservation.status}; orders has not applied stock's reply yet"
    elif state == Order.Status.VALIDATING_DELIVERY:
        requests = {r.order_id: r for r in DeliveryRequest.objects.filter(order_id__in=ids)}
        for order in orders:
            request = requests.get(order.id)
            if request is None:
                reasons[order.id] = (
                    "delivery has not applied ReserveCourier yet (see the orders outbox and its consumer)"
                )
            elif request.status == DeliveryRequest.Status.WAITING and request.manual:
                reasons[order.id] = "waiting for an operator to accept the delivery (manual delivery)"
            elif request.status == DeliveryRequest.Status.WAITING:
                reasons[order.id] = f"waiting for a courier: {request.reason or 'no free slot'}"
            else:
                reasons[order.id] = f"the delivery request is {request.status}; orders has not applied its reply yet"
    else:
        for order in orders:
            pending = ", ".join(order.pending_compensations) or "nothing"
            reason = f"waiting for {pending} to confirm the compensation"
            if order.escalated_at:
                reason += f"; escalated at {order.escalated_at:%Y-%m-%d %H:%M:%S} UTC"
            reasons[order.id] = reason
    letters = _dead_lettered({str(order_id) for order_id in ids})
    for order_id in ids:
        if str(order_id) in letters:
            reasons[order_id] += f"; a dead letter in {', '.join(sorted(letters[str(order_id)]))}"
    return reasons


def _dead_lettered(keys: set[str]) -> dict[str, set[str]]:
    """The services holding an unreplayed dead letter keyed by one of ``keys``."""
    found = defaultdict(set)
    for service in SERVICES:
        rows = DeadLetter.objects.using(alias_for(service)).filter(key__in=keys, replayed_at__isnull=True)
        for key in rows.values_list("key", flat=True):
            found[key].add(service)
    return found
