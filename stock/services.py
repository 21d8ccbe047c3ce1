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

Commands are checked like requests: a reservation asked again with another product or quantity
than the order's reservation is refused with :class:`~lotus.messaging.registry.MessageRejected`
(dead-lettered, nothing changes). A release names only the order: it puts back exactly what that
order's reservation holds, never more than the product has reserved.

Every service takes the caller's :class:`~lotus.messaging.unit_of_work.UnitOfWork`: the API
view or the consumer owns the transaction, and what a service sends goes out with its writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from lotus.conf import lotus_settings
from lotus.contracts.stock import StockBackordered, StockReleased, StockReserved
from lotus.db import database_now
from lotus.errors import LotusError, NotFound
from lotus.messaging.registry import MessageRejected
from lotus.messaging.unit_of_work import UnitOfWork
from stock.models import Reservation, StockItem


def stock_reserve(*, uow: UnitOfWork, order_id: uuid.UUID, product_id: int, quantity: int = 1) -> Reservation:
    """Reserve ``quantity`` of the product for the order, or queue the order until goods arrive.

    Idempotent per order: an order that already has a reservation (even a tombstone left by an
    earlier release) gets that one back and nothing is sent, unless the reservation is of
    another product or quantity (:class:`MessageRejected`).
    """
    if quantity <= 0:
        raise LotusError(f"quantity must be positive, not {quantity}.")
    item = _locked_item(uow, product_id, create=True)
    queue_ahead = uow.exists(
        Reservation, product_id=product_id, status=Reservation.Status.WAITING
    ) and _a_waiting_one_holds(uow, product_id)
    served_now = not queue_ahead and item.can_reserve(quantity)
    status = Reservation.Status.RESERVED if served_now else Reservation.Status.WAITING
    reservation = Reservation(order_id=order_id, product_id=product_id, quantity=quantity, status=status)
    if not uow.insert_unless_present(reservation, unique_fields=("order_id",)):
        existing = uow.get(Reservation, order_id=order_id)
        claimed, held = (product_id, quantity), (existing.product_id, existing.quantity)
        if existing.product_id is not None and claimed != held:
            raise MessageRejected(
                f"ReserveStock for order {order_id} asks {quantity} x product {product_id}; "
                f"its reservation is {existing.quantity} x product {existing.product_id}"
            )
        return existing
    if served_now:
        item.reserve(quantity)
        uow.update(item, ["on_hand", "reserved"])
        uow.send(StockReserved(order_id=order_id, product_id=product_id, quantity=quantity))
    else:
        uow.send(StockBackordered(order_id=order_id, product_id=product_id))
    return reservation


def stock_receive(*, uow: UnitOfWork, product_id: int, count: int) -> tuple[StockItem, list[uuid.UUID]]:
    """The warehouse received ``count`` goods: put them on hand and serve the waiting queue.

    Returns the item and the ids of the orders whose waiting reservations were served.
    """
    if count <= 0:
        raise LotusError(f"count must be positive, not {count}.")
    item = _locked_item(uow, product_id, create=False)
    if item is None:
        raise NotFound(f"Unknown product: idSubscription {product_id} has no stock.")
    item.receive(count)
    served = _serve_queue(uow, item)
    uow.update(item, ["on_hand", "reserved", "received"])
    return item, served


def stock_release(*, uow: UnitOfWork, order_id: uuid.UUID) -> Reservation:
    """Undo the order's reservation: goods go back on hand (and serve the queue), a waiting
    order leaves the queue, and an order not seen yet gets a tombstone.

    Idempotent and answering: a reservation already released or withdrawn changes no counter,
    and the confirmation is sent again (a saga that asks again lost the first one)."""
    known = uow.get(Reservation, order_id=order_id)
    if known is None:
        # A withdrawn, empty reservation: the order's ReserveStock, if it comes, must do nothing.
        tombstone = Reservation(order_id=order_id, product_id=None, quantity=0, status=Reservation.Status.WITHDRAWN)
        if uow.insert_unless_present(tombstone, unique_fields=("order_id",)):
            uow.send(StockReleased(order_id=order_id, quantity=0))
            return tombstone
        known = uow.get(Reservation, order_id=order_id)  # its reservation came in meanwhile
    if known.product_id is None:
        uow.send(StockReleased(order_id=order_id, quantity=0))
        return known

    # Item first, then the reservation: the lock order every writer of this product uses.
    item = _locked_item(uow, known.product_id, create=True)
    reservation = uow.locked(Reservation, order_id=order_id)
    if reservation.is_settled:
        released = reservation.quantity if reservation.status == Reservation.Status.RELEASED else 0
        uow.send(StockReleased(order_id=order_id, quantity=released))
        return reservation
    if reservation.status == Reservation.Status.RESERVED:
        if item.reserved < reservation.quantity:
            raise MessageRejected(
                f"ReleaseStock for order {order_id}: its reservation holds {reservation.quantity} x product "
                f"{item.product_id}, but only {item.reserved} are reserved"
            )
        item.unreserve(reservation.quantity)
        reservation.status = Reservation.Status.RELEASED
        uow.update(reservation, ["status"])
        uow.send(StockReleased(order_id=order_id, quantity=reservation.quantity))
        _serve_queue(uow, item)
        uow.update(item, ["on_hand", "reserved"])
    else:
        reservation.status = Reservation.Status.WITHDRAWN
        uow.update(reservation, ["status"])
        uow.send(StockReleased(order_id=order_id, quantity=0))
    return reservation


def _locked_item(uow: UnitOfWork, product_id: int, *, create: bool) -> StockItem | None:
    item = uow.locked(StockItem, product_id=product_id)
    if item is None and create:
        # ON CONFLICT DO NOTHING: two first reservations of a new product must not collide.
        uow.insert_unless_present(StockItem(product_id=product_id), unique_fields=("product_id",))
        item = uow.locked(StockItem, product_id=product_id)
    return item


def _serve_queue(uow: UnitOfWork, item: StockItem) -> list[uuid.UUID]:
    """Reserve waiting orders of the locked ``item`` oldest first while goods allow; the first
    order that cannot be served blocks the ones behind it, unless it waited past the hold time
    (then it is passed over). The caller saves ``item``."""
    no_longer_holds = _no_longer_holds(uow)
    served: list[Reservation] = []
    after, more = 0, True
    while item.on_hand > 0 and more:
        # Every reservation takes at least one item, so no more than on_hand of them can be served;
        # only reservations passed over make the next page worth reading.
        limit = item.on_hand
        page = list(
            Reservation.objects.using(uow.alias)
            .select_for_update()
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
        Reservation.objects.using(uow.alias).filter(id__in=[r.id for r in served]).update(
            status=Reservation.Status.RESERVED
        )
    uow.send(*(StockReserved(order_id=r.order_id, product_id=item.product_id, quantity=r.quantity) for r in served))
    return [r.order_id for r in served]


def _a_waiting_one_holds(uow: UnitOfWork, product_id: int) -> bool:
    """Whether a waiting reservation of the product has waited less than the hold time."""
    seconds = lotus_settings.QUEUE["HOLD_SECONDS"]
    if seconds <= 0:
        return True
    cutoff = database_now(uow.alias) - timedelta(seconds=seconds)
    return uow.exists(Reservation, product_id=product_id, status=Reservation.Status.WAITING, created_at__gt=cutoff)


def _no_longer_holds(uow: UnitOfWork) -> Callable[[Reservation], bool]:
    """Whether a waiting reservation has waited past the hold time, so that later ones may pass it."""
    waited = uow.waited_longer_than(lotus_settings.QUEUE["HOLD_SECONDS"])
    return lambda reservation: waited(reservation.created_at)
