"""Seed data of profiles: the operator account (created, or its password reset)."""

from django.conf import settings
from django.db import transaction

from profiles.models import Customer


def seed() -> str:
    with transaction.atomic():
        operator, created = Customer.objects.get_or_create(
            email=settings.LOTUS_OPERATOR_EMAIL.lower(), defaults={"is_staff": True, "is_superuser": True}
        )
        operator.is_staff = operator.is_superuser = operator.is_active = True
        operator.set_password(settings.LOTUS_OPERATOR_PASSWORD)
        operator.save()
    return f"operator {operator.email} {'created' if created else 'updated'}"
