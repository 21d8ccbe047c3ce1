"""Writes of the orders service: placing orders and moving their saga forward.

Every transition runs in the unit of work it is given (one transaction on the orders
database): lock the order, apply the ``@transition`` method if the current state allows it,
record it in the history, and send the next command and the customer-facing event.

Replies are checked like requests. A reply must name an order that asked for it: one that was
once in the state that sends the command it answers (``ValidatingStock`` for ``StockReserved``,
``Cancelling`` with stock among its compensations for ``StockReleased``), and what it claims
(customer, amount, product, quantity) must match the order. Otherwise it is refused with
:class:`~lotus.messaging.registry.MessageRejected` and dead-lettered: orders never sent the
command it answers (its order is unknown, or the saga never reached that step), so nothing
legitimate produced it. A reply that was asked for but that the current state no longer
waits for (a second one, or one that arrives after a cancel) is logged and ignored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

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
from lotus.errors import Conflict, LotusError, NotFound
from lotus.messaging.registry import MessageRejected
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.metrics import SAGA_SECONDS
from orders.models import Order, OrderTransition, Product

FINAL_OUTCOMES = {Order.Status.NOTIFYING_SOURCE_SYSTEM: "completed", Order.Status.CANCELLED: "cancelled"}
#: Every order is for one item of its product.
QUANTITY = 1
#: The saga's forward path: an order in one of these states has been in every earlier one.
FORWARD = [
    Order.Status.VALIDATING_BILLING,
    Order.Status.VALIDATING_STOCK,
    Order.Status.VALIDATING_DELIVERY,
    Order.Status.NOTIFYING_SOURCE_SYSTEM,
]
#: The state that asked each service for the step its compensation undoes.
ASKED_BY = {
    "billing": Order.Status.VALIDATING_BILLING,
    "stock": Order.Status.VALIDATING_STOCK,
    "delivery": Order.Status.VALIDATING_DELIVERY,
}
log = logging.getLogger(__name__)


def order_place(*, uow: UnitOfWork, customer_id: int, product_id: int, delivery_slot: datetime | None = None) -> Order:
    product = uow.get(Product, id=product_id)
    if product is None:
        raise LotusError(f"Unknown product: idSubscription {product_id} is not in the catalog.")
    order = Order(
        customer_id=customer_id,
        product_id=product.id,
        price=product.price,
        manual_delivery=product.manual_delivery,
        delivery_slot=delivery_slot,
    )
    placed = OrderTransition(
        order=order, source="", target=order.status, reason="placed", at=order.created_at, **_cause(uow)
    )
    # Nothing reads them back before the commit: the order, its first history record and its
    # outbox rows go in with one statement.
    uow.add(order, placed)
    order.history = [placed]
    uow.send(
        OrderPlaced(order_id=order.id, customer_id=customer_id, product_id=product.id, price=order.price),
        ChargeOrder(order_id=order.id, customer_id=customer_id, amount=order.price),
    )
    return order


def order_payment_taken(*, uow: UnitOfWork, order_id: uuid.UUID, customer_id: int, amount: Decimal) -> Order:
    order = _asked(uow, order_id, "PaymentTaken", by=Order.Status.VALIDATING_BILLING)
    _claims_match(order, "PaymentTaken", customer_id=customer_id, price=amount)

    def next_steps(order: Order) -> list[Message]:
        return [
            OrderPaid(order_id=order.id, customer_id=order.customer_id, amount=order.price),
            ReserveStock(order_id=order.id, product_id=order.product_id, quantity=QUANTITY),
        ]

    return _advance(uow, order, Order.mark_paid, "payment taken", next_steps)


def order_payment_failed(
    *, uow: UnitOfWork, order_id: uuid.UUID, customer_id: int, amount: Decimal, shortfall: Decimal
) -> Order:
    """The order keeps waiting for a top-up; the customer is told how much is missing."""
    order = _asked(uow, order_id, "PaymentFailed", by=Order.Status.VALIDATING_BILLING)
    _claims_match(order, "PaymentFailed", customer_id=customer_id, price=amount)
    if order.status != Order.Status.VALIDATING_BILLING:
        _ignore(order, "PaymentFailed")
        return order
    uow.send(OrderPaymentFailed(order_id=order.id, customer_id=order.customer_id, shortfall=shortfall))
    return order


def order_stock_reserved(*, uow: UnitOfWork, order_id: uuid.UUID, product_id: int, quantity: int) -> Order:
    order = _asked(uow, order_id, "StockReserved", by=Order.Status.VALIDATING_STOCK)
    _claims_match(order, "StockReserved", product_id=product_id)
    if quantity != QUANTITY:
        raise MessageRejected(f"StockReserved for order {order.id} reserves {quantity} items, not {QUANTITY}")

    def next_steps(order: Order) -> list[Message]:
        return [
            OrderReserved(order_id=order.id, customer_id=order.customer_id),
            ReserveCourier(
                order_id=order.id, product_id=order.product_id, slot=order.delivery_slot, manual=order.manual_delivery
            ),
        ]

    return _advance(uow, order, Order.mark_reserved, "item reserved", next_steps)


def order_courier_reserved(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    order = _asked(uow, order_id, "CourierReserved", by=Order.Status.VALIDATING_DELIVERY)

    def next_steps(order: Order) -> list[Message]:
        return [OrderInDelivery(order_id=order.id, customer_id=order.customer_id)]

    return _advance(uow, order, Order.mark_in_delivery, "courier reserved", next_steps)


def order_stock_backordered(*, uow: UnitOfWork, order_id: uuid.UUID, product_id: int) -> Order:
    """The item is not on hand: the order waits in stock's queue (nothing to write)."""
    order = _asked(uow, order_id, "StockBackordered", by=Order.Status.VALIDATING_STOCK, lock=False)
    _claims_match(order, "StockBackordered", product_id=product_id)
    log.info("order %s waits: the item is not on hand", order.id)
    return order


def order_courier_pending(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str) -> Order:
    """No courier yet (an operator must accept, or every slot is full): the order waits (nothing to write)."""
    order = _asked(uow, order_id, "CourierPending", by=Order.Status.VALIDATING_DELIVERY, lock=False)
    log.info("order %s waits: %s", order.id, reason)
    return order


def order_cancel(
    *, uow: UnitOfWork, order_id: uuid.UUID, customer_id: int | None, reason: str = "cancelled by the customer"
) -> Order:
    """Cancel an order (``customer_id`` None: by the system) and ask for its compensations."""
    order = uow.locked(Order, id=order_id)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise NotFound(f"Order {order_id} not found.")
    if not can_proceed(order.cancel):
        raise Conflict(f"Order {order_id} is {order.status} and can no longer be cancelled.")
    _cancel(uow, order, reason)
    return order


def _cancel(uow: UnitOfWork, order: Order, reason: str) -> None:
    _transition(uow, order, lambda: order.cancel(reason), reason)
    _ask_to_compensate(uow, order)


def _ask_to_compensate(uow: UnitOfWork, order: Order) -> None:
    """Send the compensation command of every service whose confirmation is pending (each
    answers a repeated command again, so asking twice is safe)."""
    compensations = {
        "billing": RefundOrder(order_id=order.id, customer_id=order.customer_id),
        "stock": ReleaseStock(order_id=order.id),
        "delivery": ReleaseCourier(order_id=order.id),
    }
    uow.send(*(compensations[service] for service in order.pending_compensations))


def order_refunded(*, uow: UnitOfWork, order_id: uuid.UUID, customer_id: int, amount: Decimal) -> Order:
    """Billing refunded the charge (``amount``: 0 if nothing had been taken)."""
    order = _compensation_asked(uow, order_id, "PaymentRefunded", service="billing")
    _claims_match(order, "PaymentRefunded", customer_id=customer_id)
    if amount > order.price:
        raise MessageRejected(
            f"PaymentRefunded for order {order.id} refunds {amount}, more than its price {order.price}"
        )
    return _compensated(uow, order, service="billing", refunded=amount)


def order_stock_released(*, uow: UnitOfWork, order_id: uuid.UUID, quantity: int) -> Order:
    """Stock released the order's item (``quantity``: 0 if none had been reserved)."""
    order = _compensation_asked(uow, order_id, "StockReleased", service="stock")
    if quantity > QUANTITY:
        raise MessageRejected(f"StockReleased for order {order.id} releases {quantity} items, not {QUANTITY}")
    return _compensated(uow, order, service="stock")


def order_courier_released(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    order = _compensation_asked(uow, order_id, "CourierReleased", service="delivery")
    return _compensated(uow, order, service="delivery")


def _compensation_asked(uow: UnitOfWork, order_id: uuid.UUID, reply: str, *, service: str) -> Order:
    """The order a confirmation names, locked, if it asked ``service`` to compensate: it was
    cancelled after ``service`` had been asked for its step (:class:`MessageRejected` otherwise)."""
    order = uow.locked(Order, id=order_id)
    if order is None:
        raise MessageRejected(f"{reply} for order {order_id}, which orders does not know")
    waits = order.status == Order.Status.CANCELLING and service in order.pending_compensations
    cancelled = order.status in (Order.Status.CANCELLING, Order.Status.CANCELLED)
    if not waits and not (cancelled and _has_been(uow, order, ASKED_BY[service])):
        raise MessageRejected(f"{reply} for order {order_id}, which is {order.status} and never asked for it")
    return order


def _compensated(uow: UnitOfWork, order: Order, *, service: str, refunded: Decimal | None = None) -> Order:
    """One compensation is confirmed; the last one completes the cancellation."""
    if order.status != Order.Status.CANCELLING or service not in order.pending_compensations:
        _ignore(order, f"compensation by {service}")
        return order
    if refunded is not None:
        order.refunded = refunded
    if not order.compensated(service):
        uow.update(order, ["pending_compensations", "refunded"])
        return order
    _transition(uow, order, order.mark_cancelled, "compensations confirmed")
    uow.send(
        OrderCancelled(
            order_id=order.id, customer_id=order.customer_id, refunded=order.refunded, reason=order.cancel_reason
        )
    )
    return order


def _asked(uow: UnitOfWork, order_id: uuid.UUID, reply: str, *, by: str, lock: bool = True) -> Order:
    """The order a reply names (locked unless ``lock`` is false), if it asked for the reply: it
    was once in state ``by``, which sends the command the reply answers. :class:`MessageRejected`
    if orders does not know the order or never sent that command."""
    order = uow.locked(Order, id=order_id) if lock else uow.get(Order, id=order_id)
    if order is None:
        raise MessageRejected(f"{reply} for order {order_id}, which orders does not know")
    if not _has_been(uow, order, by):
        raise MessageRejected(f"{reply} for order {order_id}, which is {order.status} and never asked for it")
    return order


def _has_been(uow: UnitOfWork, order: Order, state: str) -> bool:
    """Whether the order was ever in ``state``: every order starts in ``ValidatingBilling``; on
    the forward path, a later state implies the earlier ones; after a cancel, the history tells
    (it records every transition)."""
    if state == FORWARD[0]:
        return True
    if order.status in FORWARD and state in FORWARD:
        return FORWARD.index(order.status) >= FORWARD.index(state)
    return order.status == state or uow.exists(OrderTransition, order_id=order.id, target=state)


def _claims_match(order: Order, reply: str, **claims: object) -> None:
    """Refuse a reply whose ``claims`` (the order's field → the value the reply states) are not the order's."""
    wrong = [
        f"{name} {value} (the order's: {getattr(order, name)})"
        for name, value in claims.items()
        if getattr(order, name) != value
    ]
    if wrong:
        raise MessageRejected(f"{reply} for order {order.id} does not match it: {', '.join(wrong)}")


def _advance(
    uow: UnitOfWork,
    order: Order,
    step: Callable[[Order], None],
    reason: str,
    next_steps: Callable[[Order], list[Message]],
) -> Order:
    bound_step = getattr(order, step.__name__)
    if not can_proceed(bound_step):
        _ignore(order, reason)
        return order
    _transition(uow, order, bound_step, reason)
    uow.send(*next_steps(order))
    return order


def _transition(uow: UnitOfWork, order: Order, bound_step: Callable[[], None], reason: str) -> None:
    source = order.status
    bound_step()
    order.updated_at = timezone.now()
    uow.update(order, ["status", "updated_at", "pending_compensations", "refunded", "cancel_reason"])
    uow.add(
        OrderTransition(
            order=order, source=source, target=order.status, reason=reason, at=order.updated_at, **_cause(uow)
        )
    )
    if order.status in FINAL_OUTCOMES:
        # Observed before the commit (there is no after-commit hook): a last step that rolls
        # back is observed again when its message is redelivered, a rare extra sample.
        SAGA_SECONDS.labels(FINAL_OUTCOMES[order.status]).observe((order.updated_at - order.created_at).total_seconds())


def _cause(uow: UnitOfWork) -> dict[str, object]:
    """The message a transition is made for (the unit of work's :meth:`~UnitOfWork.handling`),
    as ``OrderTransition`` fields; a request, the operator or the deadline checker: none."""
    cause = uow.cause
    if cause is None:
        return {"message_id": None, "message_type": "", "message_source": ""}
    return {"message_id": cause.id, "message_type": cause.type, "message_source": cause.source}


def _ignore(order: Order, what: str) -> None:
    log.info("order %s: %s ignored in state %s (late, or a second one)", order.id, what, order.status)


def orders_expire() -> list[Order]:
    """Cancel, with compensations, every order that waited past its state's deadline, and
    escalate every cancellation whose compensations are overdue; return the cancelled orders.

    Deadlines count from the order's last transition (``updated_at``), so they survive restarts:
    nothing is kept in memory. The ids are read without a lock; each order is then checked again
    under its row lock (:func:`order_expire`, :func:`order_escalate`), because a reply may move it
    on in between. This is the deadline checker's entrypoint: each order gets a unit of work of
    its own, so that one order's locks and messages do not wait for the others'.
    """
    expired = []
    for order_id, status in orders_past_deadline():
        with UnitOfWork("orders") as uow:
            if status == Order.Status.CANCELLING:
                order_escalate(uow=uow, order_id=order_id)
            elif (order := order_expire(uow=uow, order_id=order_id, status=status)) is not None:
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


def order_expire(*, uow: UnitOfWork, order_id: uuid.UUID, status: str) -> Order | None:
    """Cancel the order if it is still in ``status`` and has been for longer than that state's
    deadline (checked under its row lock, by the database's clock); None when it moved on."""
    deadline = _deadline_of(status)
    if deadline is None or status == Order.Status.CANCELLING:
        return None
    seconds, what = deadline
    order = _locked_if(uow, id=order_id, status=status, updated_at__lt=_ago(seconds))
    if order is None:
        log.info("order %s: no longer %s past its deadline; not cancelled", order_id, status)
        return None
    _cancel(uow, order, f"{what} did not happen within {_duration(seconds)}")
    return order


def order_escalate(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order | None:
    """An order still ``Cancelling`` past ``LOTUS_CANCELLING_TIMEOUT`` (its compensations are
    lost, or dead-lettered): flag it for the operator once (``escalated_at``, a history record
    naming the overdue compensations, the ``lotus_orders_escalated`` metric) and ask for the
    pending compensations once more, with new messages. None when it is not (or no longer) due."""
    deadline = _deadline_of(Order.Status.CANCELLING)
    if deadline is None:
        return None
    seconds, _ = deadline
    order = _locked_if(
        uow, id=order_id, status=Order.Status.CANCELLING, escalated_at__isnull=True, updated_at__lt=_ago(seconds)
    )
    if order is None:
        return None
    order.escalated_at = order.database_now
    uow.update(order, ["escalated_at"])
    overdue = ", ".join(order.pending_compensations)
    reason = f"escalated: {overdue} not confirmed within {_duration(seconds)}; asked again"
    uow.add(
        OrderTransition(
            order=order, source=order.status, target=order.status, reason=reason, at=order.escalated_at, **_cause(uow)
        )
    )
    _ask_to_compensate(uow, order)
    log.warning("order %s: %s", order.id, reason)
    return order


def _locked_if(uow: UnitOfWork, **conditions) -> Order | None:
    """The order matching ``conditions``, locked; the database's clock comes with it
    (``database_now``). A row that a concurrent writer changes is checked again after its
    commit (PostgreSQL re-evaluates the conditions of ``FOR UPDATE`` on the new version)."""
    orders = Order.objects.using(uow.alias).select_for_update()
    return orders.annotate(database_now=Now()).filter(**conditions).first()


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
