"""Writes of the stock service: reserving, receiving and releasing goods.

Every write locks the product's :class:`StockItem` row first (and only then its reservations),
so all writers of one product are serialised in the same lock order and the counters can
never go negative or drift apart.

Queue policy: waiting reservations form a first-come queue per product. A new reservation
does not overtake an older waiting one, and goods that arrive or come back serve the queue
oldest first. But a reservation that has waited longer than ``LOTUS_QUEUE_HOLD_SECONDS`` (by
the database's clock; 0: forever) no longer holds back the ones behind it: they are served
before it when they fit and it does not. It stays in the queue and is still served, oldest
first, once the goods cover it, unless a release withdraws it first. So one order that is stuck
(its cancellation's release dead-lettered, or a quantity that never arrives) cannot stall
every later order of its product.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction

from lotus.conf import lotus_settings
from lotus.contracts.stock import StockBackordered, StockReleased, StockReserved
from lotus.db import database_now, exists, insert_unless_present, locked, update, waited_longer_than
from lotus.errors import LotusError, NotFound
from lotus.messaging.outbox import publish
from lotus.messaging.registry import unit_of_work
from lotus.topology import alias_for
from stock.models import Reservation, StockItem

ALIAS = alias_for("stock")
SERVICE = "stock"


def stock_reserve(
    *, order_id: uuid.UUID, product_id: int, quantity: int = 1, causation_id: uuid.UUID | None = None
) -> Reservation:
    """Reserve ``quantity`` of the product for the order, or queue the order until goods arrive.

    Idempotent per order: an order that already has a reservation (even a tombstone left by an
    earlier release) gets that one back and nothing is published.
    """
    if quantity <= 0:
        raise LotusError(f"quantity must be positive, not {quantity}.")
    with unit_of_work("stock"):
        item = _locked_item(product_id, create=True)
        queue_ahead = exists(
            Reservation, using=ALIAS, product_id=product_id, status=Reservation.Status.WAITING
        ) and _a_waiting_one_holds(product_id)
        served_now = not queue_ahead and item.can_reserve(quantity)
        status = Reservation.Status.RESERVED if served_now else Reservation.Status.WAITING
        reservation = Reservation(order_id=order_id, product_id=product_id, quantity=quantity, status=status)
        if not insert_unless_present(reservation, unique_fields=("order_id",), using=ALIAS):
            return Reservation.objects.get(order_id=order_id)
        if served_now:
            item.reserve(quantity)
            update(item, ["on_hand", "reserved"], using=ALIAS)
            _publish(StockReserved(order_id=order_id, product_id=product_id, quantity=quantity), causation_id)
        else:
            _publish(StockBackordered(order_id=order_id, product_id=product_id), causation_id)
        return reservation


def stock_receive(*, product_id: int, count: int) -> tuple[StockItem, list[uuid.UUID]]:
    """The warehouse received ``count`` goods: put them on hand and serve the waiting queue.

    Returns the item and the ids of the orders whose waiting reservations were served.
    """
    if count <= 0:
        raise LotusError(f"count must be positive, not {count}.")
    with unit_of_work("stock"):
        item = _locked_item(product_id, create=False)
        if item is None:
            raise NotFound(f"Unknown product: idSubscription {product_id} has no stock.")
        item.receive(count)
        served = _serve_queue(item, causation_id=None)
        update(item, ["on_hand", "reserved", "received"], using=ALIAS)
        return item, served


def stock_release(*, order_id: uuid.UUID, causation_id: uuid.UUID | None = None) -> Reservation:
    """Undo the order's reservation: goods go back on hand (and serve the queue), a waiting
    order leaves the queue, and an order not seen yet gets a tombstone.

    Idempotent and answering: a reservation already released or withdrawn changes no counter,
    and the confirmation is published again (a saga that asks again lost the first one)."""
    with unit_of_work("stock"):
        known = Reservation.objects.filter(order_id=order_id).values("product_id", "status").first()
        if known is None:
            tombstone = _create_tombstone(order_id)
            if tombstone is not None:
                _publish(StockReleased(order_id=order_id, quantity=0), causation_id)
                return tombstone
            known = Reservation.objects.filter(order_id=order_id).values("product_id", "status").first()
        if known["product_id"] is None:
            _publish(StockReleased(order_id=order_id, quantity=0), causation_id)
            return Reservation.objects.get(order_id=order_id)

        # Item first, then the reservation: the lock order every writer of this product uses.
        item = _locked_item(known["product_id"], create=True)
        reservation = Reservation.objects.select_for_update().get(order_id=order_id)
        if reservation.is_settled:
            released = reservation.quantity if reservation.status == Reservation.Status.RELEASED else 0
            _publish(StockReleased(order_id=order_id, quantity=released), causation_id)
            return reservation
        if reservation.status == Reservation.Status.RESERVED:
            item.unreserve(reservation.quantity)
            reservation.status = Reservation.Status.RELEASED
            reservation.save(update_fields=["status"])
            _publish(StockReleased(order_id=order_id, quantity=reservation.quantity), causation_id)
            _serve_queue(item, causation_id=causation_id)
            update(item, ["on_hand", "reserved"], using=ALIAS)
        else:
            reservation.status = Reservation.Status.WITHDRAWN
            reservation.save(update_fields=["status"])
            _publish(StockReleased(order_id=order_id, quantity=0), causation_id)
        return reservation


def _locked_item(product_id: int, *, create: bool) -> StockItem | None:
    item = locked(StockItem, using=ALIAS, product_id=product_id)
    if item is None and create:
        # ON CONFLICT DO NOTHING: two first reservations of a new product must not collide.
        StockItem.objects.bulk_create([StockItem(product_id=product_id)], ignore_conflicts=True)
        item = StockItem.objects.select_for_update().get(product_id=product_id)
    return item


def _serve_queue(item: StockItem, *, causation_id: uuid.UUID | None) -> list[uuid.UUID]:
    """Reserve waiting orders of the locked ``item`` oldest first while goods allow; the first
    order that cannot be served blocks the ones behind it, unless it waited past the hold time
    (then it is passed over). The caller saves ``item``."""
    no_longer_holds = _no_longer_holds()
    served: list[Reservation] = []
    after, more = 0, True
    while item.on_hand > 0 and more:
        # Every reservation takes at least one item, so no more than on_hand of them can be served;
        # only reservations passed over make the next page worth reading.
        limit = item.on_hand
        page = list(
            Reservation.objects.select_for_update()
            .filter(product_id=item.product_id, status=Reservation.Status.WAITING, id__gt=after)
            .order_by("id")[:limit]
        )
        more = len(page) == limit
        for reservation in page:
            after = reservation.id
            if item.can_reserve(reservation.quantity):
                item.reserve(reservation.quantity)
                served.append(reservation)
            elif not no_longer_holds(reservation):
                more = False  # it still holds the queue: nobody behind it is served
                break
    if served:
        Reservation.objects.filter(id__in=[r.id for r in served]).update(status=Reservation.Status.RESERVED)
    for reservation in served:
        message = StockReserved(
            order_id=reservation.order_id, product_id=item.product_id, quantity=reservation.quantity
        )
        publish(message, service=SERVICE, correlation_id=reservation.order_id, causation_id=causation_id)
    return [r.order_id for r in served]


def _a_waiting_one_holds(product_id: int) -> bool:
    """Whether a waiting reservation of the product has waited less than the hold time."""
    seconds = lotus_settings.QUEUE["HOLD_SECONDS"]
    if seconds <= 0:
        return True
    cutoff = database_now(ALIAS) - timedelta(seconds=seconds)
    return exists(
        Reservation, using=ALIAS, product_id=product_id, status=Reservation.Status.WAITING, created_at__gt=cutoff
    )


def _no_longer_holds() -> Callable[[Reservation], bool]:
    """Whether a waiting reservation has waited past the hold time, so that later ones may pass it."""
    waited = waited_longer_than(lotus_settings.QUEUE["HOLD_SECONDS"], using=ALIAS)
    return lambda reservation: waited(reservation.created_at)


def _create_tombstone(order_id: uuid.UUID) -> Reservation | None:
    """A withdrawn, empty reservation for an order released before it was reserved; ``None``
    when a reservation for the order appeared concurrently."""
    try:
        with transaction.atomic(using=ALIAS):
            return Reservation.objects.create(
                order_id=order_id, product_id=None, quantity=0, status=Reservation.Status.WITHDRAWN
            )
    except IntegrityError:
        return None


def _publish(message, causation_id: uuid.UUID | None) -> None:
    publish(message, service=SERVICE, correlation_id=message.order_id, causation_id=causation_id)
