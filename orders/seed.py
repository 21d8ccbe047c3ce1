"""Seed data of orders: the catalog (SPEC.md)."""

from decimal import Decimal

from lotus.messaging.unit_of_work import UnitOfWork
from orders.models import Product

CATALOG = (
    (1, "Subscription 1", Decimal("300"), False),
    (2, "Subscription 2", Decimal("700"), False),
    (3, "Subscription 3", Decimal("1200"), True),
)


def seed() -> str:
    with UnitOfWork("orders") as uow:
        for product_id, name, price, manual in CATALOG:
            Product.objects.using(uow.alias).update_or_create(
                id=product_id, defaults={"name": name, "price": price, "manual_delivery": manual}
            )
    return f"{len(CATALOG)} products in the catalog"
