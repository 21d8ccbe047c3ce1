"""Lotus's own settings: one namespace, ``settings.LOTUS``, read through :data:`lotus_settings`.

A deployment sets environment variables (``LOTUS_RELAY_BATCH_SIZE`` and the others the README
lists); ``lotus/settings.py`` puts those that are set into ``LOTUS = {"RELAY": {"BATCH_SIZE": 200}}``
and nothing else, so every default lives here, in :data:`DEFAULTS`, next to what it does. Code
reads one section at a time::

    from lotus.conf import lotus_settings

    max_attempts = lotus_settings.CONSUMER["MAX_ATTEMPTS"]

A missing key takes its default; an unknown section or key is refused (``ImproperlyConfigured``)
rather than silently ignored, so a typo cannot leave a setting at its default unnoticed. The
sections are read-only: they are computed once from ``settings.LOTUS`` and again whenever
``override_settings`` (pytest-django's ``settings`` fixture too) changes it. A process that
changes a setting for the rest of its life (a test session's fresh Kafka namespace) calls
:meth:`LotusSettings.change`; tests use :func:`lotus.testing.lotus_override`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from lotus.topology import SERVICES

DEFAULTS: dict[str, Any] = {
    # The services whose HTTP API this web process serves (a tuple of names, not a section).
    "SERVICES": SERVICES,
    "KAFKA": {
        # Prefix of every topic and consumer group ("": none; each test session takes a fresh one).
        "NAMESPACE": "",
        # Partitions of each topic `manage.py kafka_topics` creates: up to this many consumers of
        # one service share its work (a consumer beyond it idles, a hot standby); 3 lets each
        # service run three. `kafka_topics --fix` raises it on existing topics (never lowers it).
        "PARTITIONS": 3,
        # Copies of each partition, on as many brokers: a topic survives that many brokers lost, minus one.
        # 1 for a single broker (a laptop); 3 for a cluster. More than the live brokers is refused.
        "REPLICATION_FACTOR": 1,
        # Copies that must have a record before the broker acknowledges it (the producer asks acks=all):
        # an acknowledged record survives losing this many brokers, minus one, and writes stop while fewer
        # are in sync. None: REPLICATION_FACTOR - 1, at least 1 (2 of 3).
        "MIN_INSYNC_REPLICAS": None,
        # How long topics keep records (their `retention.ms`); the inbox must remember ids longer.
        "RETENTION_HOURS": 168.0,
    },
    "RELAY": {
        # Outbox rows per relay batch.
        "BATCH_SIZE": 500,
        # The relay's fallback poll when no NOTIFY arrives (SQLite polls every 50 ms).
        "POLL_SECONDS": 1.0,
        # A standby relay takes over within this long from a leader that died, froze or lost its network.
        "LEASE_SECONDS": 10.0,
        # Refusals of one row (while the broker answers) after which the relay parks it for an operator.
        "MAX_ATTEMPTS": 8,
    },
    "OUTBOX": {
        # Sent outbox rows older than this are pruned by the relay.
        "RETENTION_HOURS": 24.0,
        # How long the relay leaves rows a consumer or a request claimed alone; then it publishes them.
        "CLAIM_SECONDS": 10.0,
    },
    "INBOX": {
        # Applied message ids older than this are pruned by the relay; None: KAFKA's + the margin.
        "RETENTION_HOURS": None,
        # How much longer than the topics keep records the inbox must remember message ids.
        "RETENTION_MARGIN_HOURS": 24.0,
    },
    "CONSUMER": {
        # Tries of a failing handler before its message is dead-lettered.
        "MAX_ATTEMPTS": 5,
        # First retry delay of a failing handler, doubled each time (capped at 5 s).
        "BACKOFF_SECONDS": 0.2,
        # How often applied offsets are committed to Kafka (a crash redelivers that much; the inbox drops it).
        "COMMIT_INTERVAL_MS": 1000,
        # Consumers publish each batch's outbox rows right after its commit; False: the relay does all.
        "PUBLISHES": True,
    },
    "WEB": {
        # A request that starts a saga publishes its outbox rows right after its commit; False: the relay does.
        "PUBLISHES": True,
        # How long that request waits for the broker; rows not acknowledged go when their claim lapses.
        "PUBLISH_WAIT_SECONDS": 1.0,
    },
    "QUEUE": {
        # A waiting charge or reservation older than this (database clock) stops holding back later ones.
        "HOLD_SECONDS": 600.0,
    },
    "IDEMPOTENCY": {
        # How long an Idempotency-Key is remembered; the relay prunes older records.
        "TTL_HOURS": 24.0,
    },
    "THROTTLE": {
        # DRF rate strings ("10/min"; s, min, hour, day); None or "": no limit. Counters live in
        # each service's own database, shared by all its processes and pods.
        # Sign-in attempts per account (the email in the body), from anywhere.
        "LOGIN_ACCOUNT": "10/min",
        # Sign-in attempts per client address (REMOTE_ADDR, or X-Forwarded-For behind LOTUS_NUM_PROXIES).
        "LOGIN_ADDRESS": "60/min",
        # Registrations per client address.
        "REGISTER": "30/hour",
        # Top-ups (POST /billing/add-money) per customer.
        "TOP_UP": "60/min",
        # Orders placed (POST /order/place) per customer.
        "PLACE": "60/min",
    },
    "PAGINATION": {
        # Items of GET /order and GET /notification when ?limit= is not given.
        "DEFAULT_LIMIT": 50,
        # The largest ?limit= accepted (a larger one is 400).
        "MAX_LIMIT": 200,
    },
    "BILLING": {
        # The largest single top-up.
        "MAX_TOP_UP": 1_000_000,
        # No top-up may take a balance above this (refunds may: they give back what was paid).
        "MAX_BALANCE": 100_000_000,
    },
    "METRICS": {
        # Relays and consumers serve /metrics on this port (0: they do not; web always does).
        "PORT": 0,
        # Collectors added to /metrics for a service this process runs: {service: dotted class path}.
        "COLLECTORS": {
            "orders": "orders.metrics.OrdersByStateCollector",
            # The last reconciliation run, stored in the default (profiles) database.
            "profiles": "reconciliation.metrics.ReconciliationCollector",
        },
    },
    "DEADLINES": {
        # Seconds an order may wait for its payment (ValidatingBilling) before it is cancelled; 0: off.
        "PAYMENT": 0.0,
        # Seconds an order may wait for its stock reservation (ValidatingStock); 0: off.
        "STOCK": 0.0,
        # Seconds an order may wait for its courier (ValidatingDelivery); 0: off.
        "DELIVERY": 0.0,
        # Seconds an order may stay Cancelling before it is escalated, once; 0: never.
        "CANCELLING": 300.0,
        # How often `manage.py expire_orders --loop` looks for orders past a deadline.
        "CHECK_SECONDS": 5.0,
    },
    "RECONCILE": {
        # Messages and order transitions younger than this are in flight: `manage.py reconcile` does not judge them.
        "GRACE_SECONDS": 60.0,
        # Runs kept in the default database (the oldest are deleted after each run).
        "KEEP_RUNS": 1000,
    },
    "OPERATOR": {
        # Email of the operator (staff) account `manage.py seed` creates or updates.
        "EMAIL": "operator@lotus.local",
        # Its password: no default (seed refuses to run without one; scripts/secrets.sh makes one).
        "PASSWORD": None,
    },
    "DELIVERY": {
        # How many days ahead a booking looks for a free courier slot.
        "HORIZON_DAYS": 30,
    },
    "ADMIN": {
        # The admin's "stuck sagas" list shows orders waiting in one state longer than this.
        "STUCK_AFTER_SECONDS": 300.0,
        # A trace viewer's page of one trace, "{trace_id}" in it (Jaeger: http://host:16686/trace/{trace_id});
        # "": the saga page shows the trace id without a link.
        "TRACE_VIEWER_URL": "",
    },
}


def resolve(lotus: Mapping[str, Any]) -> dict[str, Any]:
    """Every Lotus setting: ``lotus`` (a ``LOTUS`` setting) over :data:`DEFAULTS`, checked.

    Raises ``ImproperlyConfigured`` for an unknown section or key, an unknown service, and an
    inbox that would forget message ids Kafka still redelivers."""
    if not isinstance(lotus, Mapping):
        raise ImproperlyConfigured(f"LOTUS must be a dict of sections, not {type(lotus).__name__}")
    for section in lotus:
        if section not in DEFAULTS:
            raise ImproperlyConfigured(f"LOTUS has no section {section!r}; its sections are {', '.join(DEFAULTS)}")
    resolved: dict[str, Any] = {"SERVICES": _services(lotus.get("SERVICES", DEFAULTS["SERVICES"]))}
    for section, defaults in DEFAULTS.items():
        if section == "SERVICES":
            continue
        given = lotus.get(section, {})
        if not isinstance(given, Mapping):
            raise ImproperlyConfigured(f'LOTUS["{section}"] must be a dict, not {type(given).__name__}')
        for key in given:
            if key not in defaults:
                raise ImproperlyConfigured(f'LOTUS["{section}"] has no key {key!r}; its keys are {", ".join(defaults)}')
        resolved[section] = {**copy.deepcopy(defaults), **given}
    _check_retention(kafka=resolved["KAFKA"], inbox=resolved["INBOX"])
    _check_replication(resolved["KAFKA"])
    _check_limits(throttle=resolved["THROTTLE"], pagination=resolved["PAGINATION"], billing=resolved["BILLING"])
    _check_admin(resolved["ADMIN"])
    return {name: MappingProxyType(value) if isinstance(value, dict) else value for name, value in resolved.items()}


def _services(services: Any) -> tuple[str, ...]:
    services = tuple(services)
    unknown = [name for name in services if name not in SERVICES]
    if unknown:
        raise ImproperlyConfigured(
            f'LOTUS["SERVICES"] names unknown service(s) {", ".join(map(str, unknown))}; they are {", ".join(SERVICES)}'
        )
    return services


def _check_retention(*, kafka: dict[str, Any], inbox: dict[str, Any]) -> None:
    """Fill in the inbox retention's default, and refuse one too short: a consumer group whose
    committed offsets expired re-reads a topic from its earliest record, so a duplicate can
    arrive as long as Kafka keeps the message, plus a margin for the consumer that catches up late."""
    topics, margin = kafka["RETENTION_HOURS"], inbox["RETENTION_MARGIN_HOURS"]
    if topics <= 0 or margin < 0:
        raise ImproperlyConfigured(
            f'KAFKA["RETENTION_HOURS"] (LOTUS_KAFKA_RETENTION_HOURS={topics:g}) must be positive and '
            f'INBOX["RETENTION_MARGIN_HOURS"] (LOTUS_INBOX_RETENTION_MARGIN_HOURS={margin:g}) not negative'
        )
    if inbox["RETENTION_HOURS"] is None:
        inbox["RETENTION_HOURS"] = topics + margin
    if inbox["RETENTION_HOURS"] < topics + margin:
        raise ImproperlyConfigured(
            f'INBOX["RETENTION_HOURS"] (LOTUS_INBOX_RETENTION_HOURS={inbox["RETENTION_HOURS"]:g}) is shorter than '
            f'KAFKA["RETENTION_HOURS"] (LOTUS_KAFKA_RETENTION_HOURS={topics:g}) + '
            f'INBOX["RETENTION_MARGIN_HOURS"] (LOTUS_INBOX_RETENTION_MARGIN_HOURS={margin:g}): a message Kafka '
            "still redelivers would be applied twice once its inbox id is pruned; raise "
            "LOTUS_INBOX_RETENTION_HOURS (or unset it for the default) or lower the topics' retention"
        )


def _check_replication(kafka: dict[str, Any]) -> None:
    """Fill in the minimum in-sync replicas' default, and refuse what no cluster can satisfy:
    a topic needs at least one partition and one copy, and a broker never acknowledges a write
    that needs more in-sync copies than the partition has."""
    partitions, factor = kafka["PARTITIONS"], kafka["REPLICATION_FACTOR"]
    if partitions < 1 or factor < 1:
        raise ImproperlyConfigured(
            f'KAFKA["PARTITIONS"] (LOTUS_KAFKA_PARTITIONS={partitions}) and KAFKA["REPLICATION_FACTOR"] '
            f"(LOTUS_KAFKA_REPLICATION_FACTOR={factor}) must be at least 1"
        )
    if kafka["MIN_INSYNC_REPLICAS"] is None:
        kafka["MIN_INSYNC_REPLICAS"] = max(1, factor - 1)
    if not 1 <= (insync := kafka["MIN_INSYNC_REPLICAS"]) <= factor:
        raise ImproperlyConfigured(
            f'KAFKA["MIN_INSYNC_REPLICAS"] (LOTUS_KAFKA_MIN_INSYNC_REPLICAS={insync}) must be between 1 and '
            f'KAFKA["REPLICATION_FACTOR"] (LOTUS_KAFKA_REPLICATION_FACTOR={factor}): a broker would refuse every '
            "write to a partition with fewer copies than it must keep in sync"
        )


def _check_limits(*, throttle: dict[str, Any], pagination: dict[str, Any], billing: dict[str, Any]) -> None:
    """Refuse at start what would otherwise fail at the first request: a malformed throttle
    rate, a page limit or a money ceiling that is not positive."""
    for key, rate in throttle.items():
        if rate in (None, ""):
            throttle[key] = None
            continue
        count, _, period = str(rate).partition("/")
        if not (count.isdigit() and int(count) > 0 and period[:1] in ("s", "m", "h", "d")):
            raise ImproperlyConfigured(
                f'THROTTLE["{key}"] (LOTUS_THROTTLE_{key}={rate!r}) must be a rate such as "10/min" '
                "(a positive count per s, min, hour or day), or empty for no limit"
            )
    if not 0 < pagination["DEFAULT_LIMIT"] <= pagination["MAX_LIMIT"]:
        raise ImproperlyConfigured(
            f'PAGINATION["DEFAULT_LIMIT"] (LOTUS_PAGE_DEFAULT_LIMIT={pagination["DEFAULT_LIMIT"]}) must be positive '
            f'and at most PAGINATION["MAX_LIMIT"] (LOTUS_PAGE_MAX_LIMIT={pagination["MAX_LIMIT"]})'
        )
    if not 0 < billing["MAX_TOP_UP"] <= billing["MAX_BALANCE"] < 10**12:
        raise ImproperlyConfigured(
            f'BILLING["MAX_TOP_UP"] (LOTUS_MAX_TOP_UP={billing["MAX_TOP_UP"]}) must be positive and at most '
            f'BILLING["MAX_BALANCE"] (LOTUS_MAX_BALANCE={billing["MAX_BALANCE"]}), itself below 10^12 (numeric(14,2))'
        )


def _check_admin(admin: dict[str, Any]) -> None:
    """A trace viewer's URL must say where the trace id goes; the stuck threshold must be positive."""
    url = admin["TRACE_VIEWER_URL"] or ""
    admin["TRACE_VIEWER_URL"] = url
    if url and (url.count("{trace_id}") != 1 or not url.startswith(("http://", "https://"))):
        raise ImproperlyConfigured(
            f'ADMIN["TRACE_VIEWER_URL"] (LOTUS_TRACE_VIEWER_URL={url!r}) must be an http(s) URL with "{{trace_id}}" '
            "once in it, e.g. http://127.0.0.1:16686/trace/{trace_id}, or empty"
        )
    if (seconds := admin["STUCK_AFTER_SECONDS"]) <= 0:
        raise ImproperlyConfigured(
            f'ADMIN["STUCK_AFTER_SECONDS"] (LOTUS_STUCK_AFTER_SECONDS={seconds:g}) must be positive'
        )


def amended(lotus: Mapping[str, Any], section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A new ``LOTUS`` setting: ``lotus`` with ``values`` set in ``section`` (``lotus`` is left
    as it is). Refused like :func:`resolve` refuses, here rather than at the next read."""
    if not isinstance(DEFAULTS.get(section), dict):
        raise ImproperlyConfigured(f"{section!r} is not a Lotus settings section; they are {', '.join(DEFAULTS)}")
    changed = {**lotus, section: {**lotus.get(section, {}), **values}}
    resolve(changed)
    return changed


class LotusSettings:
    """The sections of ``settings.LOTUS`` over their defaults, as attributes:
    ``lotus_settings.RELAY["BATCH_SIZE"]``; ``lotus_settings.SERVICES`` is a tuple."""

    def __init__(self) -> None:
        self._resolved: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        resolved = self._resolved
        if resolved is None:
            resolved = self._resolved = resolve(getattr(settings, "LOTUS", {}))
        try:
            return resolved[name]
        except KeyError:
            raise AttributeError(f"Lotus has no settings section {name!r}; they are {', '.join(DEFAULTS)}") from None

    def reload(self) -> None:
        """Read ``settings.LOTUS`` again at the next access."""
        self._resolved = None

    def change(self, section: str, **values: Any) -> None:
        """Change settings of this process from now on: ``change("KAFKA", NAMESPACE="bench1")``.

        Writes ``settings.LOTUS``, so the change outlives every later reload (an override that
        is active keeps it only until it ends, as for any setting)."""
        settings.LOTUS = amended(getattr(settings, "LOTUS", {}), section, values)
        self.reload()


lotus_settings = LotusSettings()


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "LOTUS":
        lotus_settings.reload()
