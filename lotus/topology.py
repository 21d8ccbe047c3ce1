"""The services of Lotus, the database each one owns, and the router that enforces it.

Every service app keeps its models in its own database. ``profiles`` owns the ``default``
alias (Django's own auth, admin, sessions and content types live next to the accounts
they describe); every other service owns an alias named after itself. The messaging
tables (outbox, inbox, dead letters) exist in every service database, so a service can
write its state and its outgoing messages in one local transaction. So do the idempotency
records of ``lotus.idempotency``, stored next to the writes of the request they answer, and the
throttle counters of ``lotus.throttling``, shared by every process of the service.

Configuration comes from the environment, in this order for each service:

1. ``DATABASE_URL_<SERVICE>`` (e.g. ``DATABASE_URL_BILLING``): that service's own URL;
2. ``DATABASE_URL``: a shared server; each service gets the database ``<name>_<service>``
   (``postgresql://u:p@host/lotus`` gives ``lotus_billing``, ``lotus_orders``, ...);
3. nothing: one SQLite file per service under ``var/db/`` (the embedded default).

On PostgreSQL, parameters are bound by the server and a statement a connection has run
``LOTUS_DB_PREPARE_THRESHOLD`` times (default 5) is prepared, so the hot paths skip
planning. Set it to ``off`` behind a pooler that cannot keep prepared statements
(PgBouncer before 1.21 in transaction mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ

SERVICES: tuple[str, ...] = ("profiles", "billing", "orders", "stock", "delivery", "notifications")

#: The service whose database is Django's ``default`` alias.
DEFAULT_SERVICE = "profiles"

#: Django's own apps live in the default (profiles) database; so do simplejwt's revoked refresh
#: tokens (``token_blacklist``), next to the accounts they belong to, and the results of
#: ``manage.py reconcile`` (``reconciliation``), next to the admin that shows them.
FRAMEWORK_APPS = frozenset({"auth", "contenttypes", "sessions", "admin", "token_blacklist", "reconciliation"})

#: Apps whose tables exist in every service database.
SHARED_APPS = frozenset({"messaging", "idempotency", "throttling"})


def alias_for(service: str) -> str:
    """Return the Django database alias that ``service`` owns."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    return "default" if service == DEFAULT_SERVICE else service


def service_for_alias(alias: str) -> str:
    return DEFAULT_SERVICE if alias == "default" else alias


def alias_for_app(app_label: str) -> str | None:
    """The alias an app's tables live in; ``None`` for apps shared by every database."""
    if app_label in SHARED_APPS:
        return None
    if app_label in FRAMEWORK_APPS:
        return "default"
    if app_label in SERVICES:
        return alias_for(app_label)
    return "default"


def database_settings(env: environ.Env, var_dir: Path) -> dict[str, dict[str, Any]]:
    """Build ``DATABASES`` from the environment (see the module docstring)."""
    shared_url = env.str("DATABASE_URL", default="")
    databases = {}
    for service in SERVICES:
        own_url = env.str(f"DATABASE_URL_{service.upper()}", default="")
        if own_url:
            config = env.db_url_config(own_url)
        elif shared_url:
            config = env.db_url_config(shared_url)
            config["NAME"] = f"{config.get('NAME') or 'lotus'}_{service}"
        else:
            config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(var_dir / "db" / f"{service}.sqlite3")}
        databases[alias_for(service)] = _tune(config, prepare_threshold=env.str("LOTUS_DB_PREPARE_THRESHOLD", "5"))
    return databases


def _tune(config: dict[str, Any], *, prepare_threshold: str = "5") -> dict[str, Any]:
    options = config.setdefault("OPTIONS", {})
    if config["ENGINE"].endswith("sqlite3"):
        # Several processes (web, relays, consumers) share each file: wait for locks instead of
        # failing, take the write lock up front, and let readers run beside the writer.
        options.setdefault("timeout", 30)
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        # A file, not memory, so that worker processes started by tests see the test data.
        name = Path(config["NAME"])
        config["TEST"] = {"NAME": str(name.with_name(f"test_{name.name}"))}
    else:
        config.setdefault("CONN_MAX_AGE", 300)
        config.setdefault("CONN_HEALTH_CHECKS", True)
        # The hot paths run the same few statements thousands of times: bind on the server
        # and prepare them once per connection (planning cost as much as executing).
        if prepare_threshold.lower() not in {"", "off", "none"}:
            options.setdefault("server_side_binding", True)
            options.setdefault("prepare_threshold", int(prepare_threshold))
        config["TEST"] = {"NAME": f"test_{config['NAME']}"}
    return config


class ServiceRouter:
    """Send each app's queries to the database of the service that owns it.

    Messaging models are shared: queries on them must name their database explicitly
    (``OutboxMessage.objects.using(alias)``); the router then leaves the choice alone.
    """

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return self._alias(model, hints)

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return self._alias(model, hints)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return obj1._state.db == obj2._state.db

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        owner = alias_for_app(app_label)
        return owner is None or owner == db

    @staticmethod
    def _alias(model: type, hints: dict[str, Any]) -> str | None:
        service = getattr(model, "lotus_service", None)
        if service is not None:
            return alias_for(service)
        owner = alias_for_app(model._meta.app_label)
        if owner is not None:
            return owner
        instance = hints.get("instance")
        return instance._state.db if instance is not None else None
