"""Writes of the orders service: placing orders and moving their saga forward.

Every transition runs in one transaction on the orders database: lock the order, apply the
``@transition`` method if the current state allows it, record it in the history, and write
the next command and the customer-facing event to the outbox. A reply that the current state
does not allow (a duplicate, or one that arrives late) is logged and ignored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils import timezone
from django_fsm import can_proceed

from lotus.conf import lotus_settings
from lotus.contracts import Message
from lotus.contracts.billing import ChargeOrder, RefundOrder
from lotus.contracts.delivery import ReleaseCourier, ReserveCourier
from lotus.contracts.orders import (
    OrderCancelled,
    OrderInDelivery,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    OrderReserved,
)
from lotus.contracts.stock import ReleaseStock, ReserveStock
from lotus.db import deferred_inserts, get, insert, locked, update
from lotus.errors import Conflict, LotusError, NotFound
from lotus.messaging.outbox import publish, publish_all
from lotus.messaging.registry import unit_of_work
from lotus.metrics import SAGA_SECONDS
from lotus.topology import alias_for
from orders.models import Order, OrderTransition, Product

ALIAS = alias_for("orders")
FINAL_OUTCOMES = {Order.Status.NOTIFYING_SOURCE_SYSTEM: "completed", Order.Status.CANCELLED: "cancelled"}
log = logging.getLogger(__name__)


def order_place(*, customer_id: int, product_id: int, delivery_slot: datetime | None = None) -> Order:
    product = get(Product, using=ALIAS, id=product_id)
    if product is None:
        raise LotusError(f"Unknown product: idSubscription {product_id} is not in the catalog.")
    # The order, its first history record and its outbox rows go in with one statement.
    with unit_of_work("orders"), deferred_inserts(ALIAS):
        order = Order(
            customer_id=customer_id,
            product_id=product.id,
            price=product.price,
            manual_delivery=product.manual_delivery,
            delivery_slot=delivery_slot,
        )
        insert([order], using=ALIAS)
        placed = OrderTransition(order=order, source="", target=order.status, reason="placed", at=order.created_at)
        insert([placed], using=ALIAS)
        order.history = [placed]
        publish_all(
            [
                OrderPlaced(order_id=order.id, customer_id=customer_id, product_id=product.id, price=order.price),
                ChargeOrder(order_id=order.id, customer_id=customer_id, amount=order.price),
            ],
            service="orders",
            correlation_id=order.id,
            fresh_key=True,
        )
    return order


def order_payment_taken(*, order_id: uuid.UUID, causation_id: uuid.UUID | None = None) -> Order | None:
    def next_steps(order: Order) -> list[Message]:
        return [
            OrderPaid(order_id=order.id, customer_id=order.customer_id, amount=order.price),
            ReserveStock(order_id=order.id, product_id=order.product_id),
        ]

    return _advance(order_id, Order.mark_paid, "payment taken", next_steps, causation_id)


def order_payment_failed(*, order_id: uuid.UUID, shortfall, causation_id: uuid.UUID | None = None) -> Order | None:
    """The order keeps waiting for a top-up; the customer is told how much is missing."""
    with unit_of_work("orders"):
        order = _locked(order_id)
        if order is None or order.status != Order.Status.VALIDATING_BILLING:
            _ignore(order_id, order, "PaymentFailed")
            return order
        event = OrderPaymentFailed(order_id=order.id, customer_id=order.customer_id, shortfall=shortfall)
        _publish(order, event, causation_id)
        return order


def order_stock_reserved(*, order_id: uuid.UUID, causation_id: uuid.UUID | None = None) -> Order | None:
    def next_steps(order: Order) -> list[Message]:
        return [
            OrderReserved(order_id=order.id, customer_id=order.customer_id),
            ReserveCourier(
                order_id=order.id, product_id=order.product_id, slot=order.delivery_slot, manual=order.manual_delivery
            ),
        ]

    return _advance(order_id, Order.mark_reserved, "item reserved", next_steps, causation_id)


def order_courier_reserved(*, order_id: uuid.UUID, causation_id: uuid.UUID | None = None) -> Order | None:
    def next_steps(order: Order) -> list[Message]:
        return [OrderInDelivery(order_id=order.id, customer_id=order.customer_id)]

    return _advance(order_id, Order.mark_in_delivery, "courier reserved", next_steps, causation_id)


def order_cancel(*, order_id: uuid.UUID, customer_id: int | None, reason: str = "cancelled by the customer") -> Order:
    """Cancel an order (``customer_id`` None: by the system) and ask for its compensations."""
    with unit_of_work("orders"):
        order = _locked(order_id)
        if order is None or (customer_id is not None and order.customer_id != customer_id):
            raise NotFound(f"Order {order_id} not found.")
        if not can_proceed(order.cancel):
            raise Conflict(f"Order {order_id} is {order.status} and can no longer be cancelled.")
        _cancel(order, reason)
        return order


def _cancel(order: Order, reason: str) -> None:
    _transition(order, lambda: order.cancel(reason), reason)
    _ask_to_compensate(order)


def _ask_to_compensate(order: Order) -> None:
    """Publish the compensation command of every service whose confirmation is pending (each
    answers a repeated command again, so asking twice is safe)."""
    compensations = {
        "billing": RefundOrder(order_id=order.id, customer_id=order.customer_id),
        "stock": ReleaseStock(order_id=order.id),
        "delivery": ReleaseCourier(order_id=order.id),
    }
    for service in order.pending_compensations:
        _publish(order, compensations[service])


def order_compensated(
    *, order_id: uuid.UUID, service: str, refunded=None, causation_id: uuid.UUID | None = None
) -> Order | None:
    """One compensation is confirmed; the last one completes the cancellation."""
    with unit_of_work("orders"):
        order = _locked(order_id)
        if order is None or order.status != Order.Status.CANCELLING or service not in order.pending_compensations:
            _ignore(order_id, order, f"compensation by {service}")
            return order
        if refunded is not None:
            order.refunded = refunded
        if not order.compensated(service):
            update(order, ["pending_compensations", "refunded"], using=ALIAS)
            return order
        _transition(order, order.mark_cancelled, "compensations confirmed")
        event = OrderCancelled(
            order_id=order.id, customer_id=order.customer_id, refunded=order.refunded, reason=order.cancel_reason
        )
        _publish(order, event, causation_id)
        return order


def order_waits(*, order_id: uuid.UUID, why: str) -> None:
    """A step could not complete now: the order stays where it is (nothing to write)."""
    log.info("order %s waits: %s", order_id, why)


def _advance(
    order_id: uuid.UUID,
    step: Callable[[Order], None],
    reason: str,
    next_steps: Callable[[Order], list[Message]],
    causation_id: uuid.UUID | None,
) -> Order | None:
    with unit_of_work("orders"):
        order = _locked(order_id)
        bound_step = getattr(order, step.__name__, None)
        if order is None or not can_proceed(bound_step):
            _ignore(order_id, order, reason)
            return order
        _transition(order, bound_step, reason)
        publish_all(next_steps(order), service="orders", correlation_id=order.id, causation_id=causation_id)
        return order


def _transition(order: Order, bound_step: Callable[[], None], reason: str) -> None:
    source = order.status
    bound_step()
    order.updated_at = timezone.now()
    update(order, ["status", "updated_at", "pending_compensations", "refunded", "cancel_reason"], using=ALIAS)
    transition = OrderTransition(order=order, source=source, target=order.status, reason=reason, at=order.updated_at)
    insert([transition], using=ALIAS)  # deferred to the end of a consumer's batch: nothing reads it back
    if order.status in FINAL_OUTCOMES:
        seconds = (order.updated_at - order.created_at).total_seconds()
        transaction.on_commit(lambda: SAGA_SECONDS.labels(FINAL_OUTCOMES[order.status]).observe(seconds), using=ALIAS)


def _locked(order_id: uuid.UUID) -> Order | None:
    return locked(Order, using=ALIAS, id=order_id)


def _ignore(order_id: uuid.UUID, order: Order | None, what: str) -> None:
    if order is None:
        log.warning("order %s: %s for an unknown order ignored", order_id, what)
    else:
        log.info("order %s: %s ignored in state %s", order_id, what, order.status)


def _publish(order: Order, message: Message, causation_id: uuid.UUID | None = None) -> None:
    publish(message, service="orders", correlation_id=order.id, causation_id=causation_id)


def orders_expire() -> list[Order]:
    """Cancel, with compensations, every order that waited past its state's deadline, and
    escalate every cancellation whose compensations are overdue; return the cancelled orders.

    Deadlines count from the order's last transition (``updated_at``), so they survive restarts:
    nothing is kept in memory. The ids are read without a lock; each order is then checked again
    under its row lock (:func:`order_expire`, :func:`order_escalate`), because a reply may move it
    on in between.
    """
    expired = []
    for order_id, status in orders_past_deadline():
        if status == Order.Status.CANCELLING:
            order_escalate(order_id=order_id)
            continue
        order = order_expire(order_id=order_id, status=status)
        if order is not None:
            expired.append(order)
    return expired


def orders_past_deadline() -> list[tuple[uuid.UUID, str]]:
    """``(id, state)`` of the orders that have been in their state longer than its deadline, by
    the database's clock; read without a lock, so only candidates."""
    candidates = []
    for status, seconds, _ in _deadlines():
        found = Order.objects.filter(status=status, updated_at__lt=_ago(seconds))
        if status == Order.Status.CANCELLING:
            found = found.filter(escalated_at__isnull=True)
        candidates += [(order_id, status) for order_id in found.order_by("updated_at").values_list("id", flat=True)]
    return candidates


def order_expire(*, order_id: uuid.UUID, status: str) -> Order | None:
    """Cancel the order if it is still in ``status`` and has been for longer than that state's
    deadline (checked under its row lock, by the database's clock); None when it moved on."""
    deadline = _deadline_of(status)
    if deadline is None or status == Order.Status.CANCELLING:
        return None
    seconds, what = deadline
    with unit_of_work("orders"):
        order = _locked_if(id=order_id, status=status, updated_at__lt=_ago(seconds))
        if order is None:
            log.info("order %s: no longer %s past its deadline; not cancelled", order_id, status)
            return None
        _cancel(order, f"{what} did not happen within {_duration(seconds)}")
        return order


def order_escalate(*, order_id: uuid.UUID) -> Order | None:
    """An order still ``Cancelling`` past ``LOTUS_CANCELLING_TIMEOUT`` (its compensations are
    lost, or dead-lettered): flag it for the operator once (``escalated_at``, a history record
    naming the overdue compensations, the ``lotus_orders_escalated`` metric) and ask for the
    pending compensations once more, with new messages. None when it is not (or no longer) due."""
    deadline = _deadline_of(Order.Status.CANCELLING)
    if deadline is None:
        return None
    seconds, _ = deadline
    with unit_of_work("orders"):
        order = _locked_if(
            id=order_id, status=Order.Status.CANCELLING, escalated_at__isnull=True, updated_at__lt=_ago(seconds)
        )
        if order is None:
            return None
        order.escalated_at = order.database_now
        update(order, ["escalated_at"], using=ALIAS)
        overdue = ", ".join(order.pending_compensations)
        reason = f"escalated: {overdue} not confirmed within {_duration(seconds)}; asked again"
        escalation = OrderTransition(
            order=order, source=order.status, target=order.status, reason=reason, at=order.escalated_at
        )
        insert([escalation], using=ALIAS)
        _ask_to_compensate(order)
        log.warning("order %s: %s", order.id, reason)
        return order


def _locked_if(**conditions) -> Order | None:
    """The order matching ``conditions``, locked; the database's clock comes with it
    (``database_now``). A row that a concurrent writer changes is checked again after its
    commit (PostgreSQL re-evaluates the conditions of ``FOR UPDATE`` on the new version)."""
    return Order.objects.select_for_update().annotate(database_now=Now()).filter(**conditions).first()


def _ago(seconds: float) -> CombinedExpression:
    return Now() - timedelta(seconds=seconds)


def _deadline_of(status: str) -> tuple[float, str] | None:
    return next(((seconds, what) for state, seconds, what in _deadlines() if state == status), None)


def _deadlines() -> list[tuple[str, float, str]]:
    configured = [
        (Order.Status.VALIDATING_BILLING, lotus_settings.DEADLINES["PAYMENT"], "payment"),
        (Order.Status.VALIDATING_STOCK, lotus_settings.DEADLINES["STOCK"], "the stock reservation"),
        (Order.Status.VALIDATING_DELIVERY, lotus_settings.DEADLINES["DELIVERY"], "the courier reservation"),
        (Order.Status.CANCELLING, lotus_settings.DEADLINES["CANCELLING"], "the compensations"),
    ]
    return [(status, seconds, what) for status, seconds, what in configured if seconds > 0]


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
