"""Integration: topics are created per namespace with the configured retention, existing topics
that keep records for another time are reported, and a throwaway namespace's topics can be
deleted without touching anyone else's (the real Kafka broker)."""

import io
import uuid
from contextlib import contextmanager

import pytest
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, ResourceType
from django.core.management import CommandError, call_command

from lotus.messaging.kafka import (
    Difference,
    Layout,
    all_topics,
    differences,
    drop_topics,
    ensure_topics,
    layouts,
    make_admin,
    retention_mismatches,
    wanted,
)
from lotus.testing import lotus_override, wait_for

pytestmark = pytest.mark.integration


def topics_under(namespace: str) -> set[str]:
    return {name for name in make_admin().list_topics(timeout=10).topics if name.startswith(f"{namespace}.")}


def test_drop_topics_deletes_its_namespace_and_nothing_else(kafka_namespace):
    session = topics_under(kafka_namespace)
    throwaway = f"drop{uuid.uuid4().hex[:8]}"
    with lotus_override("KAFKA", NAMESPACE=throwaway):
        created = ensure_topics(partitions=1)
        assert sorted(created) == sorted(all_topics())
        # The broker's metadata lists a new topic a moment after its creation is acknowledged.
        wait_for(lambda: topics_under(throwaway) == set(created), timeout=30, message="the new topics to be listed")

        assert drop_topics() == sorted(created)
    wait_for(lambda: not topics_under(throwaway), timeout=30, message="the throwaway topics to go")
    assert topics_under(kafka_namespace) == session
    assert session, "the session's own topics are still there"


@lotus_override("KAFKA", NAMESPACE="")
def test_drop_topics_refuses_without_a_namespace():
    with pytest.raises(ValueError, match="LOTUS_KAFKA_NAMESPACE"):
        drop_topics()
    with pytest.raises(CommandError, match="LOTUS_KAFKA_NAMESPACE"):
        call_command("kafka_topics", "--drop")


def retention_of(topics) -> dict[str, tuple[int, bool]]:
    """``{topic: (retention.ms, set on the topic itself)}`` as the broker describes them."""
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
    admin = make_admin()  # kept: its futures fail once it is garbage
    described = admin.describe_configs(resources, request_timeout=30)
    return {
        resource.name: (int(entry.value), entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        for resource, future in described.items()
        for entry in [future.result()["retention.ms"]]
    }


@contextmanager
def throwaway_namespace():
    """Point the test at a fresh namespace and delete its topics afterwards."""
    namespace = f"ret{uuid.uuid4().hex[:8]}"
    with lotus_override("KAFKA", NAMESPACE=namespace):
        try:
            yield namespace
        finally:
            wait_for(lambda: topics_under(namespace) >= set(all_topics()), timeout=30)
            drop_topics()


def test_topics_are_created_with_the_configured_retention(kafka_namespace):
    week = 168 * 3600 * 1000
    assert retention_of(all_topics()) == {name: (week, True) for name in all_topics()}

    with lotus_override("KAFKA", RETENTION_HOURS=36), throwaway_namespace() as namespace:
        call_command("kafka_topics", "--partitions", "1", stdout=io.StringIO())
        wait_for(lambda: topics_under(namespace) == set(all_topics()), timeout=30)
        assert retention_of(all_topics()) == {name: (36 * 3600 * 1000, True) for name in all_topics()}
        assert retention_mismatches() == {}


def test_kafka_topics_reports_each_existing_topic_with_another_retention(kafka_namespace):
    with throwaway_namespace() as namespace:
        hourly, inherited = all_topics()[:2]
        admin = make_admin()
        futures = admin.create_topics(
            [
                NewTopic(hourly, num_partitions=1, replication_factor=1, config={"retention.ms": "3600000"}),
                NewTopic(inherited, num_partitions=1, replication_factor=1),
            ],
            operation_timeout=30,
        )
        for future in futures.values():
            future.result()
        wait_for(lambda: topics_under(namespace) == {hourly, inherited}, timeout=30)
        broker_default, _ = retention_of([inherited])[inherited]

        out, err = io.StringIO(), io.StringIO()
        call_command("kafka_topics", "--partitions", "1", stdout=out, stderr=err)
        assert f"{len(all_topics()) - 2} created, 2 already there" in out.getvalue()
        differing = {hourly: 3_600_000} | ({inherited: broker_default} if broker_default != 168 * 3_600_000 else {})
        warnings = err.getvalue().splitlines()
        assert len(warnings) == len(differing), warnings
        for topic, actual in differing.items():
            (line,) = [line for line in warnings if f"topic {topic} " in line]
            assert line.startswith("kafka_topics: warning:")
            assert f"retention.ms={actual})" in line
            assert "LOTUS_KAFKA_RETENTION_HOURS=168 (retention.ms=604800000)" in line
        assert "keeps records for 1 h" in next(line for line in warnings if hourly in line)
        # Reported, not altered; the topics Lotus created are as configured.
        assert retention_of([hourly])[hourly] == (3_600_000, True)
        assert retention_mismatches() == differing


def test_wait_creates_nothing_and_returns_once_the_consumed_topics_exist(kafka_namespace):
    out = io.StringIO()
    call_command("kafka_topics", "--wait", "--service", "orders", stdout=out)
    assert "exist" in out.getvalue()

    empty = f"wait{uuid.uuid4().hex[:8]}"
    with lotus_override("KAFKA", NAMESPACE=empty), pytest.raises(CommandError, match=f"{empty}.billing.events"):
        call_command("kafka_topics", "--wait", "--service", "orders", "--timeout", "0", stdout=io.StringIO())
    assert not topics_under(empty), "--wait created nothing"


def test_kafka_topics_refuses_a_replication_factor_larger_than_the_live_brokers(kafka_namespace):
    empty = f"rf{uuid.uuid4().hex[:8]}"
    with lotus_override("KAFKA", NAMESPACE=empty, REPLICATION_FACTOR=2), pytest.raises(CommandError) as refused:
        call_command("kafka_topics", stdout=io.StringIO())
    message = str(refused.value)
    assert "LOTUS_KAFKA_REPLICATION_FACTOR=2 needs 2 live brokers" in message
    assert "has 1 (broker ids 1)" in message
    assert "LOTUS_KAFKA_BROKERS=2 make up" in message
    assert not topics_under(empty), "nothing was created"


def test_kafka_topics_reports_each_difference_and_fix_changes_what_kafka_can(kafka_namespace):
    with throwaway_namespace() as namespace:
        narrow, wide = all_topics()[:2]
        admin = make_admin()
        futures = admin.create_topics(
            [
                # One partition, an hour's retention, and a minimum of in-sync copies it cannot have.
                NewTopic(narrow, 1, 1, config={"retention.ms": "3600000", "min.insync.replicas": "2"}),
                # More partitions than wanted: Kafka cannot take them away, and they do no harm.
                NewTopic(wide, 5, 1, config={"retention.ms": str(168 * 3_600_000), "min.insync.replicas": "1"}),
            ],
            operation_timeout=30,
        )
        for future in futures.values():
            future.result()
        wait_for(lambda: topics_under(namespace) == {narrow, wide}, timeout=30)

        out, err = io.StringIO(), io.StringIO()
        call_command("kafka_topics", stdout=out, stderr=err)
        assert "3 partitions, replication factor 1, min.insync.replicas 1, retention 168 h" in out.getvalue()
        warnings = sorted(err.getvalue().splitlines())
        assert warnings == sorted(
            [
                f"kafka_topics: warning: topic {narrow} has partitions 1, not LOTUS_KAFKA_PARTITIONS=3",
                f"kafka_topics: warning: topic {narrow} has min.insync.replicas 2, "
                "not LOTUS_KAFKA_MIN_INSYNC_REPLICAS=1",
                f"kafka_topics: warning: topic {narrow} keeps records for 1 h (retention.ms=3600000), not "
                "LOTUS_KAFKA_RETENTION_HOURS=168 (retention.ms=604800000); the inbox retention is checked against "
                "the latter",
                f"kafka_topics: warning: topic {wide} has partitions 5, not LOTUS_KAFKA_PARTITIONS=3 (Kafka cannot "
                "remove partitions; the extra ones are harmless)",
            ]
        )
        assert layouts([narrow])[narrow] == Layout(1, 1, 2, 3_600_000), "reported, not altered"

        out, err = io.StringIO(), io.StringIO()
        call_command("kafka_topics", "--fix", stdout=out, stderr=err)
        fixed = [line for line in out.getvalue().splitlines() if line.startswith("kafka_topics: fixed: ")]
        assert len(fixed) == 3, out.getvalue()
        assert all(narrow in line for line in fixed)
        assert err.getvalue().splitlines() == [line for line in warnings if wide in line], "the harmless one stays"
        wait_for(lambda: layouts([narrow])[narrow].partitions == 3, timeout=30, message="the new partitions")
        assert layouts([narrow, wide]) == {narrow: wanted(), wide: Layout(5, 1, 1, 168 * 3_600_000)}
        assert differences() == [Difference(wide, "partitions", 5, 3)]
