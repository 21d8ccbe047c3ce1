"""Reads of the orders service."""

import uuid

from django.db.models import Q, QuerySet

from lotus.errors import LotusError, NotFound
from orders.models import Order, Product


def order_get(*, order_id: uuid.UUID, customer_id: int) -> Order:
    """The customer's own order with its history; someone else's order does not exist for them."""
    order = Order.objects.prefetch_related("transitions").filter(id=order_id, customer_id=customer_id).first()
    if order is None:
        raise NotFound(f"Order {order_id} not found.")
    return order


def order_list(*, customer_id: int, after: uuid.UUID | None = None) -> QuerySet[Order]:
    """The customer's own orders, oldest first (ties by id); with ``after``, those that come
    after that order of theirs in this order. Another customer's order is no cursor (400)."""
    orders = Order.objects.filter(customer_id=customer_id)
    if after is not None:
        cursor = orders.filter(id=after).values_list("created_at", flat=True).first()
        if cursor is None:
            raise LotusError(f"after: order {after} is not one of your orders.", details={"after": ["Unknown order."]})
        orders = orders.filter(Q(created_at__gt=cursor) | Q(created_at=cursor, id__gt=after))
    return orders.prefetch_related("transitions").order_by("created_at", "id")


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("id")
