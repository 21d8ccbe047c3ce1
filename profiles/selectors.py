"""Reads of the profiles service."""

from lotus.errors import NotFound
from profiles.models import Customer


def customer_get(*, customer_id: int) -> Customer:
    customer = Customer.objects.filter(id=customer_id, is_active=True).first()
    if customer is None:
        raise NotFound("This account no longer exists.")
    return customer
