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

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

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
        _transition(order, lambda: order.cancel(reason), reason)
        compensations = {
            "billing": RefundOrder(order_id=order.id, customer_id=order.customer_id),
            "stock": ReleaseStock(order_id=order.id),
            "delivery": ReleaseCourier(order_id=order.id),
        }
        for service in order.pending_compensations:
            _publish(order, compensations[service])
        return order


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


def orders_expire(*, now: datetime | None = None) -> list[Order]:
    """Cancel, with compensations, every order that waited past its state's deadline.

    The deadline counts from the order's last transition (``updated_at``), so it survives
    restarts: nothing is kept in memory.
    """
    now = now or timezone.now()
    expired = []
    for status, seconds, what in _deadlines():
        cutoff = now - timedelta(seconds=seconds)
        for order_id in Order.objects.filter(status=status, updated_at__lt=cutoff).values_list("id", flat=True):
            reason = f"{what} did not happen within {_duration(seconds)}"
            try:
                expired.append(order_cancel(order_id=order_id, customer_id=None, reason=reason))
            except Conflict:
                continue  # it moved on meanwhile
    return expired


def _deadlines() -> list[tuple[str, float, str]]:
    configured = [
        (Order.Status.VALIDATING_BILLING, settings.LOTUS_PAYMENT_TIMEOUT, "payment"),
        (Order.Status.VALIDATING_STOCK, settings.LOTUS_STOCK_TIMEOUT, "the stock reservation"),
        (Order.Status.VALIDATING_DELIVERY, settings.LOTUS_DELIVERY_TIMEOUT, "the courier reservation"),
    ]
    return [(status, seconds, what) for status, seconds, what in configured if seconds > 0]


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
