"""The three-broker variant's plan and arithmetic on hand-made data: the plan has the kills the
issue asks for, the figures measure the stop the probe saw, and the cluster checks catch a topic
with too few replicas and an acknowledged record that is gone."""

import random
from collections import Counter

from tests.chaos import cluster, faults, invariants
from tests.chaos.cluster import Ack
from tests.chaos.test_invariants import healthy


def test_the_cluster_plan_kills_nodes_one_at_a_time_and_two_at_once_among_process_faults():
    plan = Counter(faults.CLUSTER_FULL.plan(random.Random(12)))
    assert plan["node-kill"] >= 5
    assert plan["double-kill"] == 1
    assert sum(count for fault, count in plan.items() if fault.startswith("kill:")) >= 10
    assert not plan["broker-crash"]
    assert not plan["kafka-cut"]
    short = Counter(faults.CLUSTER_SHORT.plan(random.Random(12)))
    assert short["node-kill"] >= 1
    assert short["double-kill"] == 1


def test_the_single_broker_plans_are_unchanged():
    for sizes, crashes in ((faults.SHORT, 1), (faults.FULL, 2)):
        plan = Counter(sizes.plan(random.Random(3)))
        assert plan["broker-crash"] == crashes
        assert not plan["node-kill"]
        assert not plan["double-kill"]


def acks(partition: int, times: list[float]) -> list[Ack]:
    return [Ack(seq=i, partition=partition, offset=i, sent=t - 0.01, acked=t) for i, t in enumerate(times)]


def test_writes_stopped_is_the_worst_partition_gap_after_the_kill():
    steady = [t / 10 for t in range(0, 400)]  # every 100 ms for 40 s
    stalled = [t for t in steady if not 10.0 < t < 17.0]  # nothing acknowledged from 10 s to 17 s
    probe = acks(0, steady) + acks(1, stalled)
    assert abs(cluster.longest_gap(probe, start=9.95, end=30) - 7.0) < 0.11
    assert cluster.longest_gap(acks(0, steady), start=9.95, end=30) < 0.11
    # Nothing after the kill on one partition up to the end: stopped until the end.
    assert cluster.longest_gap(acks(0, [1.0, 2.0]), start=5.0, end=12.0) == 7.0


def test_writes_resume_when_every_partition_acknowledged_again():
    probe = acks(0, [1.0, 20.5, 20.6]) + acks(1, [1.0, 23.0])
    assert cluster.first_ack_after(probe, 20.0) == 3.0
    assert cluster.first_ack_after(probe, 30.0) is None


def test_an_acknowledged_record_missing_from_the_topic_is_reported():
    probe = acks(0, [1.0, 2.0, 3.0])
    found = {(0, 0, 0), (0, 2, 2)}
    assert cluster.lost(probe, found) == ["probe record 1, acknowledged at partition 0 offset 1, is not in the topic"]
    assert cluster.lost(probe, found | {(0, 1, 1)}) == []
    # Acknowledged without an offset (a retried batch the broker already had): found by its number.
    unknown = [Ack(seq=1, partition=0, offset=None, sent=1.0, acked=1.1)]
    assert cluster.lost(unknown, {(0, 5, 1)}) == []
    assert cluster.lost(unknown, {(1, 5, 1)}) == [
        "probe record 1, acknowledged at partition 0 offset None, is not in the topic"
    ]


def cluster_world() -> invariants.World:
    world = healthy()
    world.expected_replication = (3, 2)
    world.replication = {"chaos1.orders.placed": ([3, 3, 3], "2"), "__consumer_offsets": ([3] * 10, "2")}
    return world


def failing(world: invariants.World) -> set[str]:
    return {check.__name__ for _, check in invariants.CHECKS + invariants.CLUSTER_CHECKS if check(world)}


def test_a_replicated_cluster_without_losses_passes_every_check():
    checks = invariants.CHECKS + invariants.CLUSTER_CHECKS
    passed, failed, lines = invariants.run_checks(cluster_world(), checks)
    assert (passed, failed) == (len(checks), 0), lines


def test_a_topic_with_one_replica_or_min_insync_one_fails_the_replication_check():
    world = cluster_world()
    world.replication["chaos1.billing.deadletter"] = ([1, 1, 1], "1")
    assert failing(world) == {"topics_replicated"}
    problems = invariants.topics_replicated(world)
    assert "chaos1.billing.deadletter: partitions with [1] replicas, not 3" in problems
    assert "chaos1.billing.deadletter: min.insync.replicas=1, not 2" in problems


def test_no_topic_found_and_a_lost_record_fail_their_checks():
    world = cluster_world()
    world.replication = {}
    world.lost_probe_records = ["probe record 7, acknowledged at partition 0 offset 7, is not in the topic"]
    assert failing(world) == {"topics_replicated", "nothing_acknowledged_lost"}
