"""A throwaway three-broker Kafka cluster for tests that need replication and failover.

The shared broker on 9092 has one node, so replication factor 3, ``min.insync.replicas`` and a
leader moving off a dead broker cannot be seen there. The ``kafka_cluster`` fixture starts a
cluster of its own with ``scripts/kafka.sh`` (the same script and jars as ``make up``), on
ports 9392-9397 and a fresh ``var/test-cluster``, so killing its nodes touches nobody else's
Kafka. It is loaded for every test by the root ``conftest.py``; a test that uses it is marked
``cluster`` (``pytest -m cluster`` selects them, ``-m "not cluster"`` leaves them out).

``LOTUS_TEST_KAFKA_CLUSTER_PORT`` moves the cluster (client ports P, P+2, P+4; controller
ports P+1, P+3, P+5) when two checkouts run these tests at the same time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "kafka.sh"


@dataclass(frozen=True)
class KafkaCluster:
    """The nodes 1..``brokers`` of a local KRaft cluster, driven through ``scripts/kafka.sh``."""

    state_dir: Path
    port: int = 9392
    brokers: int = 3

    @property
    def controller_port(self) -> int:
        return self.port + 1

    def node_port(self, node: int) -> int:
        return self.port + 2 * (node - 1)

    def address(self, node: int) -> str:
        return f"127.0.0.1:{self.node_port(node)}"

    @property
    def bootstrap(self) -> str:
        """Every node's address, as ``KAFKA_BOOTSTRAP_SERVERS`` wants it."""
        return ",".join(self.address(node) for node in range(1, self.brokers + 1))

    @property
    def nodes(self) -> range:
        return range(1, self.brokers + 1)

    def env(self) -> dict[str, str]:
        """The script's environment: this cluster, never an external Kafka set in the shell."""
        env = {key: value for key, value in os.environ.items() if key != "KAFKA_BOOTSTRAP_SERVERS"}
        return {
            **env,
            "LOTUS_KAFKA_BROKERS": str(self.brokers),
            "LOTUS_KAFKA_PORT": str(self.port),
            "LOTUS_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "LOTUS_KAFKA_STATE_DIR": str(self.state_dir),
        }

    def script(self, *args: str | int, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(SCRIPT), *map(str, args)], env=self.env(), cwd=ROOT, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"scripts/kafka.sh {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr[-2000:]}"
            )
        return result

    def start(self, *nodes: int) -> None:
        """Start the nodes given (default: every node not running) and wait until each answers
        metadata that lists every running node as a live broker."""
        self.script("start", *nodes)

    def stop(self, *nodes: int) -> None:
        """Stop the nodes given (default: all) gracefully."""
        self.script("stop", *nodes)

    def kill(self, node: int) -> None:
        """SIGKILL one node (a crash: no controlled shutdown) and wait until it is gone."""
        self.script("kill", node)

    def running(self) -> set[int]:
        """The nodes whose process runs (not: which the controller sees as live)."""
        lines = self.script("status", check=False).stdout.splitlines()
        return {int(line.split()[1].rstrip(":")) for line in lines if line.startswith("node ") and ": running" in line}

    def admin(self):
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap})

    def live_brokers(self, timeout: float = 10) -> set[int]:
        """The brokers the cluster's metadata lists (unfenced ones)."""
        return set(self.admin().list_topics(timeout=timeout).brokers)


def wait_until(condition: Callable[[], bool], *, timeout: float, message: str, interval: float = 0.5) -> None:
    """Poll ``condition`` until true; fail the test with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout:.0f}s)")
        time.sleep(interval)


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaCluster]:
    """A fresh three-broker cluster for the session (replication factor 3 and min in-sync 2 by
    default for every topic it creates); stopped when the session ends."""
    cluster = KafkaCluster(
        state_dir=ROOT / "var" / "test-cluster", port=int(os.environ.get("LOTUS_TEST_KAFKA_CLUSTER_PORT", "9392"))
    )
    cluster.script("stop", check=False)  # leftovers of an interrupted run
    shutil.rmtree(cluster.state_dir, ignore_errors=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.script("stop", check=False)


@pytest.fixture
def healed_kafka_cluster(kafka_cluster: KafkaCluster) -> Iterator[KafkaCluster]:
    """The session's cluster for a test that kills nodes: every node runs again afterwards."""
    yield kafka_cluster
    kafka_cluster.start()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the cluster carries the ``cluster`` marker, declared or not."""
    for item in items:
        if "kafka_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
