"""scripts/kafka.sh refuses what it cannot run, with a message that says what to set, before
it starts any JVM (the cluster itself is exercised by tests/integration/test_kafka_cluster.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kafka.sh"


def kafka_sh(*args: str, state_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("KAFKA_", "LOTUS_KAFKA_"))}
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**base, "LOTUS_KAFKA_STATE_DIR": str(state_dir), "LOTUS_KAFKA_PORT": "9392", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("brokers", ["0", "abc", "-1", "3x", "1.5"])
def test_a_number_of_brokers_that_is_not_a_positive_whole_number_is_refused(tmp_path, brokers):
    result = kafka_sh("start", state_dir=tmp_path, LOTUS_KAFKA_BROKERS=brokers)

    assert result.returncode == 1
    assert f"LOTUS_KAFKA_BROKERS must be a whole number of brokers, 1 or more (got: {brokers})" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("node", ["0", "4", "x"])
def test_a_node_outside_the_cluster_is_refused(tmp_path, node):
    for command in ("start", "stop", "kill"):
        result = kafka_sh(command, node, state_dir=tmp_path, LOTUS_KAFKA_BROKERS="3")

        assert result.returncode == 1, command
        assert f"no Kafka node '{node}': nodes are 1..3 (LOTUS_KAFKA_BROKERS=3)" in result.stderr


def test_overlapping_client_and_controller_ports_are_refused(tmp_path):
    result = kafka_sh("start", state_dir=tmp_path, LOTUS_KAFKA_BROKERS="3", LOTUS_KAFKA_CONTROLLER_PORT="9394")

    assert result.returncode == 1
    assert "ports" in result.stderr
    assert "overlap" in result.stderr


def test_the_last_node_needs_a_port_number_too(tmp_path):
    result = kafka_sh(
        "start",
        state_dir=tmp_path,
        LOTUS_KAFKA_BROKERS="3",
        LOTUS_KAFKA_PORT="65532",
        LOTUS_KAFKA_CONTROLLER_PORT="9393",
    )

    assert result.returncode == 1
    assert "node 3" in result.stderr
    assert "must be a TCP port number (got: 65536)" in result.stderr


def test_status_lists_every_node_of_a_cluster_that_does_not_run(tmp_path):
    result = kafka_sh("status", state_dir=tmp_path, LOTUS_KAFKA_BROKERS="3")

    assert result.returncode == 3
    assert result.stdout.splitlines() == ["node 1: not running", "node 2: not running", "node 3: not running"]


def test_stop_without_a_broker_or_a_cluster_is_quietly_done(tmp_path):
    result = kafka_sh("stop", state_dir=tmp_path)

    assert result.returncode == 0
    assert "Kafka is not running" in result.stderr


def test_a_cluster_formatted_with_another_size_is_refused(tmp_path):
    (tmp_path / "node-1" / "data").mkdir(parents=True)
    (tmp_path / "node-1" / "data" / "meta.properties").write_text("cluster.id=x\n")
    (tmp_path / "brokers").write_text("3\n")

    result = kafka_sh("start", state_dir=tmp_path, LOTUS_KAFKA_BROKERS="5")

    assert result.returncode == 1
    assert "holds a 3-node Kafka cluster; set LOTUS_KAFKA_BROKERS=3" in result.stderr
