"""Seed data of profiles: the operator account (created, or its password reset)."""

from django.core.exceptions import ImproperlyConfigured

from lotus.conf import lotus_settings
from lotus.messaging.unit_of_work import UnitOfWork
from profiles.models import Customer


def seed() -> str:
    password = lotus_settings.OPERATOR["PASSWORD"]
    if not password:
        raise ImproperlyConfigured(
            "LOTUS_OPERATOR_PASSWORD is not set: the operator account needs one (scripts/secrets.sh env prints "
            "this checkout's)."
        )
    with UnitOfWork("profiles") as uow:
        operator, created = Customer.objects.db_manager(uow.alias).get_or_create(
            email=lotus_settings.OPERATOR["EMAIL"].lower(), defaults={"is_staff": True, "is_superuser": True}
        )
        operator.is_staff = operator.is_superuser = operator.is_active = True
        operator.set_password(password)
        operator.save(using=uow.alias)
    return f"operator {operator.email} {'created' if created else 'updated'}"
