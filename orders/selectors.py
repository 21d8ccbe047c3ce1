"""Reads of the orders service."""

import uuid

from django.db.models import QuerySet

from lotus.errors import NotFound
from orders.models import Order, Product


def order_get(*, order_id: uuid.UUID, customer_id: int) -> Order:
    """The customer's own order with its history; someone else's order does not exist for them."""
    order = Order.objects.prefetch_related("transitions").filter(id=order_id, customer_id=customer_id).first()
    if order is None:
        raise NotFound(f"Order {order_id} not found.")
    return order


def order_list(*, customer_id: int) -> QuerySet[Order]:
    return Order.objects.filter(customer_id=customer_id).prefetch_related("transitions").order_by("created_at")


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("id")
