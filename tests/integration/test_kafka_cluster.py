"""The local three-broker cluster does what replication promises: three copies of a partition,
a leader that moves off a crashed broker while acks=all producers carry on, writes refused
while fewer than ``min.insync.replicas`` brokers are up, and nothing acknowledged lost once
they are back.

The cluster is the test session's own (``kafka_cluster``, tests/kafka_cluster.py); nodes are
SIGKILLed with ``scripts/kafka.sh kill`` as a crash would, and started again afterwards."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from tests.kafka_cluster import KafkaCluster, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

PARTITIONS = 3


def create_topic(cluster: KafkaCluster, *, replication: int = 3, min_insync: int = 2) -> str:
    name = f"lotus-cluster-test-{uuid.uuid4().hex[:12]}"
    topic = NewTopic(
        name,
        num_partitions=PARTITIONS,
        replication_factor=replication,
        config={"min.insync.replicas": str(min_insync)},
    )
    admin = cluster.admin()  # kept: a client collected before its futures resolve fails them
    admin.create_topics([topic])[name].result(timeout=30)
    wait_until(lambda: len(partitions(cluster, name)) == PARTITIONS, timeout=30, message=f"{name} has no metadata")
    return name


def partitions(cluster: KafkaCluster, topic: str):
    """The topic's partitions as the cluster's metadata has them (leader, replicas, isrs); none
    while the metadata cannot be had (a broker just died)."""
    try:
        metadata = cluster.admin().list_topics(topic, timeout=10).topics.get(topic)
    except KafkaException:
        return {}
    if metadata is None or metadata.error is not None:
        return {}
    return metadata.partitions


def leaders(cluster: KafkaCluster, topic: str) -> dict[int, int]:
    return {number: partition.leader for number, partition in partitions(cluster, topic).items()}


def produce(
    cluster: KafkaCluster, topic: str, values: list[str], *, timeout_ms: int = 60_000, **config: object
) -> dict[str, object]:
    """Produce with acks=all (as the outbox relay does) and return each value's delivery error
    (None: acknowledged by every in-sync replica)."""
    producer = Producer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": timeout_ms,
            "request.timeout.ms": min(timeout_ms, 30_000),
            **config,
        }
    )
    outcome: dict[str, object] = {}
    for number, value in enumerate(values):
        producer.produce(
            topic,
            value=value.encode(),
            partition=number % PARTITIONS,
            on_delivery=lambda error, message: outcome.__setitem__(message.value().decode(), error),
        )
    producer.flush(timeout_ms / 1000 + 30)
    assert set(outcome) == set(values), "the producer did not report on every message"
    return outcome


def read_all(cluster: KafkaCluster, topic: str, expected: set[str], *, timeout: float = 60) -> set[str]:
    """Every value in the topic from the beginning, read until ``expected`` is seen or timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": f"lotus-cluster-test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, number, OFFSET_BEGINNING) for number in range(PARTITIONS)])
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while not expected <= seen and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                seen.add(message.value().decode())
    finally:
        consumer.close()
    return seen


def values(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{number}" for number in range(count)]


def test_every_broker_is_live_in_the_metadata(kafka_cluster):
    assert kafka_cluster.live_brokers() == {1, 2, 3}
    assert kafka_cluster.running() == {1, 2, 3}


def test_a_topic_with_replication_factor_three_has_three_replicas_in_sync(kafka_cluster):
    topic = create_topic(kafka_cluster)

    wait_until(
        lambda: all(len(p.isrs) == 3 for p in partitions(kafka_cluster, topic).values()),
        timeout=30,
        message="the replicas did not all join the ISR",
    )
    for partition in partitions(kafka_cluster, topic).values():
        assert sorted(partition.replicas) == [1, 2, 3]
        assert partition.leader in (1, 2, 3)


def test_the_cluster_defaults_replicate_three_times_with_two_in_sync(kafka_cluster):
    """A topic created without settings of its own (as the internal topics are) gets the
    cluster's defaults: three copies, two in sync for acks=all."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    name = f"lotus-cluster-test-{uuid.uuid4().hex[:12]}"
    admin = kafka_cluster.admin()
    admin.create_topics([NewTopic(name, num_partitions=1)])[name].result(timeout=30)
    wait_until(lambda: len(partitions(kafka_cluster, name)) == 1, timeout=30, message=f"{name} has no metadata")
    assert len(partitions(kafka_cluster, name)[0].replicas) == 3
    resource = ConfigResource(ResourceType.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert config["min.insync.replicas"].value == "2"
    assert config["unclean.leader.election.enable"].value == "false"


def test_with_one_broker_killed_acks_all_writes_go_on_and_the_leaders_move(healed_kafka_cluster):
    cluster = healed_kafka_cluster
    topic = create_topic(cluster)
    strict = create_topic(cluster, min_insync=3)
    before = values("before", 30)
    assert produce(cluster, topic, before) == dict.fromkeys(before)
    victim = leaders(cluster, topic)[0]

    cluster.kill(victim)

    wait_until(
        lambda: victim not in leaders(cluster, topic).values() and -1 not in leaders(cluster, topic).values(),
        timeout=45,
        message=f"the partition leaders did not move off the killed broker {victim}",
    )
    assert cluster.live_brokers() == {1, 2, 3} - {victim}
    during = values("during", 30)
    assert produce(cluster, topic, during) == dict.fromkeys(during), "acks=all writes failed with 2 of 3 brokers up"
    assert set(before + during) <= read_all(cluster, topic, set(before + during))
    # The same write to a topic that wants all three copies is refused, not acknowledged by two
    # (a producer without retries, to see the broker's answer rather than a timeout).
    wait_until(
        lambda: all(len(p.isrs) == 2 for p in partitions(cluster, strict).values()),
        timeout=30,
        message="the killed broker stayed in the ISR",
    )
    refused = produce(cluster, strict, ["strict"], timeout_ms=10_000, retries=0, **{"enable.idempotence": False})
    assert refused["strict"] is not None, "acknowledged with 2 in sync and min.insync.replicas=3"
    assert refused["strict"].code() == KafkaError.NOT_ENOUGH_REPLICAS, refused["strict"]

    cluster.start(victim)

    wait_until(
        lambda: all(len(p.isrs) == 3 for p in partitions(cluster, topic).values()),
        timeout=60,
        message=f"broker {victim} did not rejoin the ISR after its restart",
    )


def test_with_two_brokers_killed_acks_all_writes_stop_and_nothing_acknowledged_is_lost(healed_kafka_cluster):
    cluster = healed_kafka_cluster
    topic = create_topic(cluster)
    before = values("before", 30)
    assert produce(cluster, topic, before) == dict.fromkeys(before)
    survivor = leaders(cluster, topic)[0]
    victims = sorted(set(cluster.nodes) - {survivor})

    # Each node is also one of the three KRaft voters: with two gone the quorum is lost too, so
    # the ISR cannot shrink and the leader waits for replicas that never come (a timeout), or
    # answers NOT_ENOUGH_REPLICAS if the ISR shrank first. Either way nothing is acknowledged.
    for node in victims:
        cluster.kill(node)

    refused = produce(cluster, topic, ["while-down"], timeout_ms=8_000)["while-down"]
    assert refused is not None, "a write was acknowledged with 1 of 3 brokers up and min.insync.replicas=2"
    assert refused.code() in {
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError._MSG_TIMED_OUT,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,
    }, refused

    cluster.start(*victims)

    assert cluster.running() == {1, 2, 3}
    wait_until(lambda: cluster.live_brokers() == {1, 2, 3}, timeout=60, message="the brokers did not come back")
    assert set(before) <= read_all(cluster, topic, set(before)), "acknowledged messages were lost"
    after = values("after", 30)
    assert produce(cluster, topic, after) == dict.fromkeys(after), "writes did not resume after the restart"
