"""Seed data of delivery: the couriers."""

from django.db import transaction

from delivery.models import Courier

COURIERS = ("Anna", "Boris", "Chen", "Dana")


def seed() -> str:
    with transaction.atomic(using="delivery"):
        for name in COURIERS:
            Courier.objects.get_or_create(name=name)
    return f"{len(COURIERS)} couriers"
