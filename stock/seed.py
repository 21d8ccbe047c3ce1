"""Seed data of stock: the initial quantities (SPEC.md), only where a product has no row yet."""

from lotus.messaging.unit_of_work import UnitOfWork
from stock.models import StockItem

INITIAL_STOCK = {1: 1000, 2: 0, 3: 0}


def seed() -> str:
    created = 0
    with UnitOfWork("stock", publisher=None) as uow:  # it sends nothing
        for product_id, quantity in INITIAL_STOCK.items():
            item = StockItem(product_id=product_id, on_hand=quantity, received=quantity)
            created += uow.insert_unless_present(item, unique_fields=("product_id",))
    return f"{created} stock rows created, {len(INITIAL_STOCK) - created} kept"
