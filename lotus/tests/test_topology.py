"""Unit tests: database configuration from the environment and the service router."""

from pathlib import Path

import environ
import pytest

from lotus.topology import SERVICES, ServiceRouter, alias_for, alias_for_app, database_settings


def settings_from(monkeypatch, **variables):
    for name in ["DATABASE_URL", "LOTUS_DB_PREPARE_THRESHOLD"] + [f"DATABASE_URL_{s.upper()}" for s in SERVICES]:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return database_settings(environ.Env(), Path("/srv/lotus/var"))


def test_without_configuration_each_service_gets_its_own_sqlite_file(monkeypatch):
    databases = settings_from(monkeypatch)
    assert set(databases) == {"default", "billing", "orders", "stock", "delivery", "notifications"}
    assert databases["default"]["NAME"] == "/srv/lotus/var/db/profiles.sqlite3"
    assert databases["billing"]["NAME"] == "/srv/lotus/var/db/billing.sqlite3"
    assert {config["ENGINE"] for config in databases.values()} == {"django.db.backends.sqlite3"}


def test_a_shared_server_url_gives_each_service_a_database_named_after_it(monkeypatch):
    databases = settings_from(monkeypatch, DATABASE_URL="postgresql://lotus:secret@db.local:5433/shop")
    assert databases["billing"]["NAME"] == "shop_billing"
    assert databases["default"]["NAME"] == "shop_profiles"
    assert databases["orders"]["HOST"] == "db.local"
    assert databases["orders"]["PORT"] == 5433
    assert databases["orders"]["ENGINE"] == "django.db.backends.postgresql"
    assert databases["orders"]["TEST"]["NAME"] == "test_shop_orders"


def test_a_service_url_overrides_the_shared_one(monkeypatch):
    databases = settings_from(
        monkeypatch,
        DATABASE_URL="postgresql://lotus:secret@db.local/lotus",
        DATABASE_URL_BILLING="postgresql://bill:pw@billing-db/ledger",
    )
    assert databases["billing"]["NAME"] == "ledger"
    assert databases["billing"]["HOST"] == "billing-db"
    assert databases["stock"]["NAME"] == "lotus_stock"


def test_postgresql_statements_are_bound_on_the_server_and_prepared_after_five_runs(monkeypatch):
    options = settings_from(monkeypatch, DATABASE_URL="postgresql://lotus:secret@db.local/lotus")["orders"]["OPTIONS"]
    assert options == {"server_side_binding": True, "prepare_threshold": 5}


@pytest.mark.parametrize("value", ["off", ""])
def test_prepared_statements_can_be_turned_off_for_a_pooler(monkeypatch, value):
    databases = settings_from(monkeypatch, DATABASE_URL="postgresql://l:s@db/lotus", LOTUS_DB_PREPARE_THRESHOLD=value)
    assert "prepare_threshold" not in databases["orders"]["OPTIONS"]
    assert "server_side_binding" not in databases["orders"]["OPTIONS"]


def test_sqlite_gets_no_postgresql_options(monkeypatch):
    options = settings_from(monkeypatch)["billing"]["OPTIONS"]
    assert "prepare_threshold" not in options
    assert options["transaction_mode"] == "IMMEDIATE"


def test_a_shared_url_without_a_database_name_uses_lotus_as_the_prefix(monkeypatch):
    databases = settings_from(monkeypatch, DATABASE_URL="postgresql://lotus:secret@db.local:5432/")
    assert databases["delivery"]["NAME"] == "lotus_delivery"


def test_aliases():
    assert alias_for("profiles") == "default"
    assert alias_for("billing") == "billing"
    with pytest.raises(ValueError, match="unknown service"):
        alias_for("payments")


@pytest.mark.parametrize(
    ("app_label", "alias"),
    [
        ("auth", "default"),
        ("admin", "default"),
        ("token_blacklist", "default"),
        ("profiles", "default"),
        ("orders", "orders"),
        ("messaging", None),
    ],
)
def test_apps_map_to_their_service_database(app_label, alias):
    assert alias_for_app(app_label) == alias


def test_router_migrates_service_apps_only_into_their_own_database_and_messaging_everywhere():
    router = ServiceRouter()
    assert router.allow_migrate("billing", "billing")
    assert not router.allow_migrate("billing", "orders")
    assert not router.allow_migrate("orders", "auth")
    assert router.allow_migrate("default", "auth")
    assert all(router.allow_migrate(alias_for(service), "messaging") for service in SERVICES)
