"""Seed data of stock: the initial quantities (SPEC.md), only where a product has no row yet."""

from django.db import transaction

from stock.models import StockItem

INITIAL_STOCK = {1: 1000, 2: 0, 3: 0}


def seed() -> str:
    created = 0
    with transaction.atomic(using="stock"):
        for product_id, quantity in INITIAL_STOCK.items():
            _, was_created = StockItem.objects.get_or_create(
                product_id=product_id, defaults={"on_hand": quantity, "received": quantity}
            )
            created += was_created
    return f"{created} stock rows created, {len(INITIAL_STOCK) - created} kept"
