"""Integration: each service database holds only its own tables plus the shared messaging
(outbox, inbox, dead letters, the relay lease), idempotency and throttle-counter tables."""

import pytest
from django.db import connections

from lotus.topology import SERVICES, alias_for

pytestmark = pytest.mark.django_db(databases="__all__")

MESSAGING = {"messaging_outboxmessage", "messaging_inboxmessage", "messaging_deadletter", "messaging_lease"}
SHARED = MESSAGING | {"idempotency_idempotencyrecord", "lotus_throttle"}
DJANGO = {"django_migrations"}
FRAMEWORK_PREFIXES = (
    "auth_",
    "django_admin_log",
    "django_content_type",
    "django_session",
    "token_blacklist_",
    "reconciliation_",
)
TOKEN_BLACKLIST = {"token_blacklist_outstandingtoken", "token_blacklist_blacklistedtoken"}


def tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_database_has_its_own_tables_and_the_messaging_tables_only(service):
    names = tables(alias_for(service))
    assert names >= SHARED, f"messaging, idempotency or throttle tables missing from {service}"
    own = {name for name in names if name.startswith(f"{service}_")}
    assert own, f"{service} has no tables of its own"
    foreign = names - own - SHARED - DJANGO
    if service == "profiles":
        foreign = {name for name in foreign if not name.startswith(FRAMEWORK_PREFIXES)}
    assert foreign == set(), f"{service} database holds tables of other apps: {sorted(foreign)}"


def test_revoked_refresh_tokens_live_in_the_profiles_database_only():
    for service in SERVICES:
        held = tables(alias_for(service)) & TOKEN_BLACKLIST
        assert held == (TOKEN_BLACKLIST if service == "profiles" else set()), service


def test_billing_database_has_no_orders_table_and_orders_has_no_ledger():
    assert "orders_order" not in tables("billing")
    assert "billing_ledgerentry" not in tables("orders")
    assert "profiles_customer" not in tables("notifications")


def test_service_databases_are_distinct_databases():
    names = {connections[alias_for(service)].settings_dict["NAME"] for service in SERVICES}
    assert len(names) == len(SERVICES)


def test_reconciliation_runs_live_in_the_profiles_database_only():
    for service in SERVICES:
        held = {name for name in tables(alias_for(service)) if name.startswith("reconciliation_")}
        assert held == ({"reconciliation_reconciliationrun"} if service == "profiles" else set()), service
