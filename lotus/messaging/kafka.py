"""Kafka clients configured for Lotus, and the topics the project creates itself.

Topics are never auto-created by the broker: :func:`ensure_topics` creates every contract
topic and every service's dead-letter topic with the layout the settings give (:func:`wanted`):
``KAFKA["PARTITIONS"]`` partitions, ``KAFKA["REPLICATION_FACTOR"]`` copies of each,
``KAFKA["MIN_INSYNC_REPLICAS"]`` of which must have a record before it is acknowledged, and an
explicit retention, ``KAFKA["RETENTION_HOURS"]``, rather than the broker's defaults: the inbox
retention is checked against it at start-up (settings), so it must be what the topics really keep.

It refuses a replication factor larger than the live brokers (:class:`ReplicationUnsatisfiable`)
before creating anything, so a misconfigured deployment stops at its first step with the reason,
rather than with topics half created. :func:`differences` finds existing topics laid out otherwise,
and :func:`fix` brings them to the settings where Kafka allows it in place: more partitions, the
minimum in-sync replicas, the retention. Fewer partitions or another replication factor is a
reassignment an operator plans (``kafka-reassign-partitions.sh``), so it is only reported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
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


def producer_config(**overrides: object) -> dict[str, object]:
    """An idempotent producer's configuration: acks from all in-sync replicas (at least
    ``KAFKA["MIN_INSYNC_REPLICAS"]`` of them, or the broker refuses the write), no duplicates on
    retry, in order. Overrides may tune batching and timeouts, never weaken those."""
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
    weakened = {key: config[key] for key in ("acks", "enable.idempotence") if config[key] not in ("all", True)}
    if weakened:
        raise ValueError(f"a Lotus producer acknowledges from all in-sync replicas, idempotently (not {weakened})")
    return config


def make_producer(**overrides: object) -> Producer:
    """A producer with :func:`producer_config`."""
    return Producer(producer_config(**overrides))


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
        # Round robin deals every topic's partitions out in turn, so each consumer of a service
        # gets a share of each topic it reads (its commands too). Cooperative-sticky balances
        # only the count over all topics, and mostly left one consumer every partition of
        # `billing.commands`: a second consumer took none of the charges. Its rebalances revoke
        # every partition for a moment; the inbox drops whatever is redelivered after one.
        "partition.assignment.strategy": "roundrobin",
        **overrides,
    }
    return Consumer(config)


def make_admin() -> AdminClient:
    return AdminClient(_common())


def retention_ms() -> int:
    """The ``retention.ms`` Lotus gives its topics: ``KAFKA["RETENTION_HOURS"]``."""
    return round(lotus_settings.KAFKA["RETENTION_HOURS"] * 3600 * 1000)


@dataclass(frozen=True)
class Layout:
    """How a Lotus topic is laid out: what the settings ask for, or what a topic has."""

    partitions: int
    replication_factor: int
    min_insync_replicas: int
    retention_ms: int

    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "min.insync.replicas": str(self.min_insync_replicas)}


def wanted(*, partitions: int | None = None) -> Layout:
    """The layout the settings ask for (``partitions`` overrides ``KAFKA["PARTITIONS"]``)."""
    kafka = lotus_settings.KAFKA
    return Layout(
        partitions=partitions or kafka["PARTITIONS"],
        replication_factor=kafka["REPLICATION_FACTOR"],
        min_insync_replicas=kafka["MIN_INSYNC_REPLICAS"],
        retention_ms=retention_ms(),
    )


#: Each layout field, the environment variable that sets it, and whether Kafka changes it in place.
FIELDS = {
    "partitions": ("LOTUS_KAFKA_PARTITIONS", True),
    "replication_factor": ("LOTUS_KAFKA_REPLICATION_FACTOR", False),
    "min_insync_replicas": ("LOTUS_KAFKA_MIN_INSYNC_REPLICAS", True),
    "retention_ms": ("LOTUS_KAFKA_RETENTION_HOURS", True),
}


@dataclass(frozen=True)
class Difference:
    """One existing topic whose ``field`` is ``actual`` where the settings want ``wanted``."""

    topic: str
    field: str
    actual: int
    wanted: int

    @property
    def fixable(self) -> bool:
        """Kafka raises partitions and alters topic configs in place; it never lowers partitions,
        and another replication factor needs a reassignment of every partition."""
        in_place = FIELDS[self.field][1]
        return in_place and not (self.field == "partitions" and self.actual > self.wanted)

    def describe(self) -> str:
        variable = FIELDS[self.field][0]
        if self.field == "retention_ms":
            return (
                f"topic {self.topic} keeps records for {hours(self.actual)} (retention.ms={self.actual}), not "
                f"{variable}={lotus_settings.KAFKA['RETENTION_HOURS']:g} (retention.ms={self.wanted}); "
                "the inbox retention is checked against the latter"
            )
        name = {"min_insync_replicas": "min.insync.replicas"}.get(self.field, self.field.replace("_", " "))
        text = f"topic {self.topic} has {name} {self.actual}, not {variable}={self.wanted}"
        if self.field == "partitions" and self.actual > self.wanted:
            return text + " (Kafka cannot remove partitions; the extra ones are harmless)"
        if self.field == "replication_factor":
            return text + " (another replication factor is a partition reassignment: kafka-reassign-partitions.sh)"
        return text


class ReplicationUnsatisfiable(Exception):
    """The replication factor asked for is larger than the cluster's live brokers."""


def live_brokers(admin: AdminClient, *, timeout: float = 30.0) -> list[int]:
    """The ids of the brokers the cluster's metadata lists: those up and registered now."""
    return sorted(admin.list_topics(timeout=timeout).brokers)


def check_replication(admin: AdminClient, *, timeout: float = 30.0) -> list[int]:
    """Return the live brokers, or raise :class:`ReplicationUnsatisfiable` when fewer than the
    replication factor are up: Kafka would refuse to create the topics, one at a time."""
    brokers = live_brokers(admin, timeout=timeout)
    factor = lotus_settings.KAFKA["REPLICATION_FACTOR"]
    if factor > len(brokers):
        raise ReplicationUnsatisfiable(
            f"LOTUS_KAFKA_REPLICATION_FACTOR={factor} needs {factor} live brokers, but the cluster at "
            f"{settings.KAFKA_BOOTSTRAP_SERVERS} has {len(brokers)} (broker ids {', '.join(map(str, brokers))}); "
            f"start the missing brokers (locally: LOTUS_KAFKA_BROKERS={factor} make up) or lower "
            "LOTUS_KAFKA_REPLICATION_FACTOR (and LOTUS_KAFKA_MIN_INSYNC_REPLICAS with it)"
        )
    return brokers


def ensure_topics(
    names: Iterable[str] | None = None, *, partitions: int | None = None, timeout: float = 30.0
) -> list[str]:
    """Create the missing topics with the wanted layout; return the names that were created.
    Raises :class:`ReplicationUnsatisfiable` (creating nothing) when the cluster has fewer live
    brokers than the replication factor."""
    names = sorted(set(names if names is not None else all_topics()))
    layout = wanted(partitions=partitions)
    admin = make_admin()
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [name for name in names if name not in existing]
    if not missing:
        return []
    check_replication(admin, timeout=timeout)
    futures = admin.create_topics(
        [NewTopic(name, layout.partitions, layout.replication_factor, config=layout.config()) for name in missing],
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


def layouts(names: Iterable[str] | None = None, *, timeout: float = 30.0) -> dict[str, Layout]:
    """``{topic: its layout}`` for the existing topics among ``names`` (every Lotus topic by
    default), read from the cluster: partitions and replicas from the metadata, the minimum
    in-sync replicas and retention from the topic's configs, whether set on the topic or inherited
    from the broker's defaults. The replication factor is the fewest replicas of any partition."""
    names = sorted(set(names if names is not None else all_topics()))
    admin = make_admin()
    metadata = admin.list_topics(timeout=timeout).topics
    present = [name for name in names if name in metadata and metadata[name].partitions and not metadata[name].error]
    if not present:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in present]
    configs = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
        try:
            configs[resource.name] = future.result()
        except KafkaException as exc:
            # A topic just created reaches every broker's metadata a moment later: not there yet.
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    present = [name for name in present if name in configs]
    return {
        name: Layout(
            partitions=len(metadata[name].partitions),
            replication_factor=min(len(partition.replicas) for partition in metadata[name].partitions.values()),
            min_insync_replicas=int(configs[name]["min.insync.replicas"].value),
            retention_ms=int(configs[name]["retention.ms"].value),
        )
        for name in present
    }


def differences(
    names: Iterable[str] | None = None, *, partitions: int | None = None, timeout: float = 30.0
) -> list[Difference]:
    """Every way the existing topics among ``names`` differ from :func:`wanted`, topic by topic."""
    goal = wanted(partitions=partitions)
    return [
        Difference(topic, field, getattr(actual, field), getattr(goal, field))
        for topic, actual in layouts(names, timeout=timeout).items()
        for field in FIELDS
        if getattr(actual, field) != getattr(goal, field)
    ]


def fix(found: Iterable[Difference], *, timeout: float = 30.0) -> list[Difference]:
    """Apply the fixable differences (more partitions; the minimum in-sync replicas and retention,
    set on the topic) and return those applied. Each topic's configs change in one request."""
    fixable = [difference for difference in found if difference.fixable]
    if not fixable:
        return []
    admin = make_admin()
    grow = [NewPartitions(d.topic, d.wanted) for d in fixable if d.field == "partitions"]
    configs: dict[str, list[ConfigEntry]] = {}
    for d in fixable:
        if d.field != "partitions":
            key = "retention.ms" if d.field == "retention_ms" else "min.insync.replicas"
            entry = ConfigEntry(key, str(d.wanted), incremental_operation=AlterConfigOpType.SET)
            configs.setdefault(d.topic, []).append(entry)
    futures = list(admin.create_partitions(grow, operation_timeout=timeout).values()) if grow else []
    resources = [
        ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries) for topic, entries in configs.items()
    ]
    if resources:
        futures += list(admin.incremental_alter_configs(resources, request_timeout=timeout).values())
    for future in futures:
        future.result()
    log.info("fixed topics: %s", "; ".join(d.describe() for d in fixable))
    return fixable


def retention_mismatches(names: Iterable[str] | None = None, *, timeout: float = 30.0) -> dict[str, int]:
    """Return ``{topic: retention.ms}`` for the existing topics among ``names`` (every Lotus
    topic by default) that keep records for another time than :func:`retention_ms`."""
    found = differences(names, timeout=timeout)
    return {d.topic: d.actual for d in found if d.field == "retention_ms"}


def hours(ms: int) -> str:
    """A retention for people: "168 h", or "ever" for -1."""
    return "ever" if ms < 0 else f"{ms / 3_600_000:g} h"


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
