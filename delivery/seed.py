"""Seed data of delivery: the couriers."""

from delivery.models import Courier
from lotus.messaging.unit_of_work import UnitOfWork

COURIERS = ("Anna", "Boris", "Chen", "Dana")


def seed() -> str:
    with UnitOfWork("delivery", publisher=None) as uow:  # it sends nothing
        for name in COURIERS:
            uow.insert_unless_present(Courier(name=name), unique_fields=("name",))
    return f"{len(COURIERS)} couriers"
