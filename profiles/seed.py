"""Seed data of profiles: the operator account (created, or its password reset)."""

from django.db import transaction

from lotus.conf import lotus_settings
from profiles.models import Customer


def seed() -> str:
    with transaction.atomic():
        operator, created = Customer.objects.get_or_create(
            email=lotus_settings.OPERATOR["EMAIL"].lower(), defaults={"is_staff": True, "is_superuser": True}
        )
        operator.is_staff = operator.is_superuser = operator.is_active = True
        operator.set_password(lotus_settings.OPERATOR["PASSWORD"])
        operator.save()
    return f"operator {operator.email} {'created' if created else 'updated'}"
