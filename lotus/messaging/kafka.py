"""Kafka clients configured for Lotus, and the topics the project creates itself.

Topics are never auto-created by the broker: :func:`ensure_topics` creates every contract
topic and every service's dead-letter topic with ``KAFKA["PARTITIONS"]`` partitions and an
explicit retention, ``KAFKA["RETENTION_HOURS"]``, rather than the broker's default: the inbox
retention is checked against it at start-up (settings), so it must be what the topics really keep.
:func:`retention_mismatches` finds existing topics that keep records for another time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from django.conf import settings

from lotus import contracts
from lotus.conf import lotus_settings
from lotus.topology import SERVICES

log = logging.getLogger(__name__)


def physical_topic(logical: str) -> str:
    """The Kafka topic for a logical topic name, with the deployment's namespace."""
    namespace = lotus_settings.KAFKA["NAMESPACE"]
    return f"{namespace}.{logical}" if namespace else logical


def dead_letter_topic(service: str) -> str:
    return physical_topic(f"{service}.deadletter")


def consumer_group(service: str) -> str:
    namespace = lotus_settings.KAFKA["NAMESPACE"]
    return f"{namespace}.lotus.{service}" if namespace else f"lotus.{service}"


def all_topics() -> list[str]:
    logical = contracts.topics() + [f"{service}.deadletter" for service in SERVICES]
    return [physical_topic(name) for name in logical]


def security_config() -> dict[str, object]:
    """The authentication part of every client's configuration (``settings.KAFKA_SECURITY``):
    nothing beyond the protocol on PLAINTEXT, the SASL mechanism and credentials on ``SASL_*``,
    the CA bundle on ``*SSL`` when one is given."""
    security = settings.KAFKA_SECURITY
    protocol = security["security.protocol"].upper()
    config: dict[str, object] = {"security.protocol": protocol}
    if protocol.startswith("SASL_"):
        config.update({key: security[key] for key in ("sasl.mechanism", "sasl.username", "sasl.password")})
    if protocol.endswith("SSL") and security["ssl.ca.location"]:
        config["ssl.ca.location"] = security["ssl.ca.location"]
    return config


def _common() -> dict[str, object]:
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, "client.id": "lotus", **security_config()}


def make_producer(**overrides: object) -> Producer:
    """An idempotent producer: acks from all in-sync replicas, no duplicates on retry, in order."""
    config = {
        **_common(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 200000,
        # Every record gets a verdict (acknowledged or an error) within the 30 s a publisher
        # waits, so a row is refused rather than left in flight and produced again.
        "message.timeout.ms": 20000,
        "topic.metadata.propagation.max.ms": 10000,
        **overrides,
    }
    return Producer(config)


def make_consumer(group_id: str, **overrides: object) -> Consumer:
    """A consumer that commits only the offsets the application stored after its database
    commits, in the background every ``CONSUMER["COMMIT_INTERVAL_MS"]`` and on close."""
    config = {
        **_common(),
        "group.id": group_id,
        "enable.auto.commit": True,
        "auto.commit.interval.ms": lotus_settings.CONSUMER["COMMIT_INTERVAL_MS"],
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # The broker answers a fetch as soon as data arrives; the wait only bounds idle fetches,
        # so a long one costs no latency and spares the broker a request storm from idle consumers.
        "fetch.wait.max.ms": 500,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
        "partition.assignment.strategy": "cooperative-sticky",
        **overrides,
    }
    return Consumer(config)


def make_admin() -> AdminClient:
    return AdminClient(_common())


def retention_ms() -> int:
    """The ``retention.ms`` Lotus gives its topics: ``KAFKA["RETENTION_HOURS"]``."""
    return round(lotus_settings.KAFKA["RETENTION_HOURS"] * 3600 * 1000)


def ensure_topics(
    names: Iterable[str] | None = None, *, partitions: int | None = None, timeout: float = 30.0
) -> list[str]:
    """Create the missing topics; return the names that were created."""
    names = sorted(set(names if names is not None else all_topics()))
    partitions = partitions or lotus_settings.KAFKA["PARTITIONS"]
    admin = make_admin()
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [name for name in names if name not in existing]
    if not missing:
        return []
    config = {"retention.ms": str(retention_ms())}
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config) for name in missing],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    log.info("created topics: %s", ", ".join(sorted(created)))
    return sorted(created)


def retention_mismatches(names: Iterable[str] | None = None, *, timeout: float = 30.0) -> dict[str, int]:
    """Return ``{topic: retention.ms}`` for the existing topics among ``names`` (every Lotus
    topic by default) that keep records for another time than :func:`retention_ms`, whether set
    on the topic or inherited from the broker's default."""
    names = sorted(set(names if names is not None else all_topics()))
    admin = make_admin()
    existing = set(admin.list_topics(timeout=timeout).topics)
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names if name in existing]
    if not resources:
        return {}
    wanted = retention_ms()
    mismatches = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
        actual = int(future.result()["retention.ms"].value)
        if actual != wanted:
            mismatches[resource.name] = actual
    return dict(sorted(mismatches.items()))


def drop_topics(timeout: float = 30.0) -> list[str]:
    """Delete every topic of this process's ``LOTUS_KAFKA_NAMESPACE`` and return their names:
    what a test session or a throwaway stack leaves behind. Without a namespace it refuses, so
    a deployment's own topics cannot go by mistake."""
    namespace = lotus_settings.KAFKA["NAMESPACE"]
    if not namespace:
        raise ValueError("drop_topics deletes a namespace's topics; LOTUS_KAFKA_NAMESPACE is not set")
    admin = make_admin()
    names = sorted(name for name in admin.list_topics(timeout=timeout).topics if name.startswith(f"{namespace}."))
    for future in (admin.delete_topics(names, operation_timeout=timeout) if names else {}).values():
        future.result()
    return names


def ping(timeout: float = 3.0) -> None:
    """Raise unless the broker answers a metadata request within ``timeout`` seconds."""
    make_admin().list_topics(timeout=timeout)
