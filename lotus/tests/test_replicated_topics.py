"""Integration on the test session's own three-broker cluster (``kafka_cluster``): ``kafka_topics``
lays every Lotus topic out with the configured replication (three copies, two in sync), reports a
topic with another replication factor and will not pretend to fix it, and the relay does not
park a row while the cluster cannot take writes (two brokers of three down), however often it
is refused: it publishes once they are back."""

from __future__ import annotations

import io
import uuid
from contextlib import contextmanager

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, ResourceType
from django.core.management import CommandError, call_command
from django.test import override_settings

from lotus.messaging.kafka import all_topics, drop_topics, layouts, retention_ms
from lotus.messaging.models import OutboxMessage
from lotus.messaging.relay import Relay
from lotus.testing import Worker, lotus_override, wait_for
from lotus.tests import support
from lotus.tests.support import ping

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@contextmanager
def on_the_cluster(cluster, **kafka):
    """Point Lotus at the cluster, in a fresh namespace, with three copies of each partition."""
    namespace = f"repl{uuid.uuid4().hex[:8]}"
    with (
        override_settings(KAFKA_BOOTSTRAP_SERVERS=cluster.bootstrap),
        lotus_override("KAFKA", NAMESPACE=namespace, REPLICATION_FACTOR=3, **kafka),
    ):
        try:
            yield namespace
        finally:
            drop_topics()


def read_back(cluster, names):
    """``{topic: (replicas of each partition, in-sync replicas of each, min.insync.replicas and
    whether it is set on the topic)}``, as the cluster's own metadata and configs have them."""
    admin = cluster.admin()
    metadata = admin.list_topics(timeout=30).topics
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in names])
    configs = {resource.name: future.result()["min.insync.replicas"] for resource, future in described.items()}
    return {
        name: (
            sorted(len(p.replicas) for p in metadata[name].partitions.values()),
            sorted(len(p.isrs) for p in metadata[name].partitions.values()),
            (int(configs[name].value), configs[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
        )
        for name in names
    }


def settled(read):
    """``read()``, or None while a broker does not know a topic just created yet."""
    try:
        return read()
    except (KafkaException, KeyError):
        return None


def test_kafka_topics_creates_every_topic_with_three_copies_two_in_sync(kafka_cluster):
    with on_the_cluster(kafka_cluster):
        out = io.StringIO()
        call_command("kafka_topics", stdout=out)
        assert f"{len(all_topics())} created, 0 already there (3 live brokers;" in out.getvalue()
        assert "replication factor 3, min.insync.replicas 2" in out.getvalue()
        names = all_topics()
        expected = {name: ([3, 3, 3], [3, 3, 3], (2, True)) for name in names}
        # Every broker learns of a new topic a moment after its creation is acknowledged.
        wait_for(lambda: settled(lambda: read_back(kafka_cluster, names)) == expected, timeout=60)

        again = io.StringIO()
        call_command("kafka_topics", stdout=again, stderr=(err := io.StringIO()))
        assert f"0 created, {len(names)} already there" in again.getvalue()
        assert err.getvalue() == "", "nothing differs"


def test_a_topic_with_another_replication_factor_is_reported_and_fix_will_not_pretend(kafka_cluster):
    with on_the_cluster(kafka_cluster):
        single = all_topics()[0]
        admin = kafka_cluster.admin()
        admin.create_topics(
            [NewTopic(single, 3, 1, config={"min.insync.replicas": "1", "retention.ms": str(retention_ms())})]
        )[single].result(30)
        # Every broker lists it before kafka_topics looks (a moment after its creation).
        wait_for(lambda: all(single in layouts([single]) for _ in range(5)), timeout=60, message="the topic listed")

        err = io.StringIO()
        call_command("kafka_topics", stdout=io.StringIO(), stderr=err)
        assert sorted(err.getvalue().splitlines()) == sorted(
            [
                f"kafka_topics: warning: topic {single} has min.insync.replicas 1, "
                "not LOTUS_KAFKA_MIN_INSYNC_REPLICAS=2",
                f"kafka_topics: warning: topic {single} has replication factor 1, not LOTUS_KAFKA_REPLICATION_FACTOR=3 "
                "(another replication factor is a partition reassignment: kafka-reassign-partitions.sh)",
            ]
        )
        with pytest.raises(CommandError, match="1 topic\\(s\\) have another replication factor"):
            call_command("kafka_topics", "--fix", stdout=io.StringIO(), stderr=io.StringIO())
        # What Kafka can change was changed all the same (each broker learns it a moment later);
        # the copies were not.
        wait_for(
            lambda: read_back(kafka_cluster, [single])[single][2] == (2, True),
            timeout=30,
            message="min.insync.replicas 2 set on the topic",
        )
        assert read_back(kafka_cluster, [single])[single][0] == [1, 1, 1]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_relay_parks_nothing_while_two_brokers_of_three_are_down(healed_kafka_cluster, kafka_namespace):
    cluster = healed_kafka_cluster
    refusals: list[str] = []

    class WatchedRelay(Relay):
        def produce(self, rows):
            produced = super().produce(rows)
            refusals.extend(produced.errors.values())
            return produced

    def row():
        return OutboxMessage.objects.using("stock").get(pk=written.pk)

    with on_the_cluster(cluster, PARTITIONS=1):
        call_command("kafka_topics", stdout=io.StringIO())
        (written,) = support.write("stock", ping("while the cluster cannot take writes", str(uuid.uuid4())))
        cluster.kill(2)
        cluster.kill(3)
        # With max_attempts=1, one refusal held against the row would park it.
        with Worker(lambda stop: WatchedRelay("stock", stop=stop, max_attempts=1), name="relay"):
            wait_for(lambda: len(refusals) >= 2, timeout=120, message="the relay refused twice by the cluster")
            assert row().sent_at is None, "two brokers of three down: no quorum, nothing acknowledged"
            assert row().parked_at is None, f"the cluster's outage is not the row's fault: {refusals}"
            assert row().attempts == 0
            cluster.start(2, 3)
            wait_for(lambda: row().sent_at, timeout=120, message="the row published once the brokers are back")
        assert row().parked_at is None
