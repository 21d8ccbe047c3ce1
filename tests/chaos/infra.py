"""The suite's own PostgreSQL cluster, Kafka broker (or cluster of brokers) and loopback firewall rules.

They are separate from the shared ones on 5432 and 9092 (other people's tests run there), so
that restarting PostgreSQL, killing a broker or cutting the network touches nobody else.
``scripts/chaos.sh`` creates them; this module only crashes, restarts and cuts them.

With ``brokers`` > 1 the Kafka side is the KRaft cluster of ``scripts/kafka.sh``
(``LOTUS_KAFKA_BROKERS``): node *i* listens on ``kafka_port + 2 (i - 1)``, its controller on the
port after it, and keeps its state (``kafka.pid`` among it) in ``<kafka_state>/node-<i>``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CHAIN = "LOTUS_CHAOS"


@dataclass(frozen=True)
class Infra:
    root: Path
    pg_cluster: str = "lotuschaos"
    pg_port: int = 5499
    kafka_port: int = 9192
    kafka_controller_port: int = 9193
    brokers: int = 1

    @property
    def kafka_state(self) -> Path:
        return self.root / "var" / "chaos" / "kafka"

    @property
    def nodes(self) -> list[int]:
        """The Kafka node ids, 1 to ``brokers``."""
        return list(range(1, self.brokers + 1))

    def node_port(self, node: int) -> int:
        return self.kafka_port + 2 * (node - 1)

    @property
    def database_url(self) -> str:
        return f"postgresql://lotus:lotus@127.0.0.1:{self.pg_port}/lotus_chaos"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.node_port(node)}" for node in self.nodes)

    # -- PostgreSQL --------------------------------------------------------------------------
    def restart_postgres(self) -> None:
        """A fast shutdown: every open connection gets AdminShutdown, then the server is back."""
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", self.pg_cluster, "restart", "-m", "fast"])

    def postgres_ready(self) -> bool:
        return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.pg_port)]).returncode == 0

    def stop_postgres(self) -> None:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", self.pg_cluster, "stop", "-m", "fast"])

    # -- Kafka --------------------------------------------------------------------------------
    def _kafka_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "KAFKA_BOOTSTRAP_SERVERS"}
        return {
            **env,
            "LOTUS_KAFKA_PORT": str(self.kafka_port),
            "LOTUS_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "LOTUS_KAFKA_STATE_DIR": str(self.kafka_state),
            "LOTUS_KAFKA_BROKERS": str(self.brokers),
        }

    def broker_pid(self, node: int = 1) -> int | None:
        state = self.kafka_state / f"node-{node}" if self.brokers > 1 else self.kafka_state
        try:
            return int((state / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def down_nodes(self) -> list[int]:
        """The nodes whose broker process does not run (killed, or never started)."""
        return [node for node in self.nodes if not _alive(self.broker_pid(node))]

    def kill_broker(self, node: int = 1) -> None:
        """SIGKILL the broker of ``node`` (the only one by default) and wait until it is gone."""
        pid = self.broker_pid(node)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.1)

    def start_broker(self, *nodes: int) -> None:
        """Start the given nodes (every one not running by default) again on their data
        directories, and wait until they answer: the topics and offsets survive."""
        argv = [str(self.root / "scripts" / "kafka.sh"), "start"]
        _run(argv + [str(node) for node in nodes] if self.brokers > 1 else argv, env=self._kafka_env())

    def stop_broker(self) -> None:
        subprocess.run([str(self.root / "scripts" / "kafka.sh"), "stop"], env=self._kafka_env())

    # -- network partitions ------------------------------------------------------------------
    def cut(self, port: int) -> None:
        """Drop every packet to and from ``port`` on loopback: open connections hang."""
        for direction in ("--dport", "--sport"):
            _run(["iptables", "-A", CHAIN, "-p", "tcp", direction, str(port), "-j", "DROP"])

    def heal(self, port: int) -> None:
        for direction in ("--dport", "--sport"):
            subprocess.run(
                ["iptables", "-D", CHAIN, "-p", "tcp", direction, str(port), "-j", "DROP"], capture_output=True
            )


def install_chain() -> None:
    """A chain of the suite's own, jumped to from INPUT on loopback: removing it removes every rule."""
    remove_chain()
    _run(["iptables", "-N", CHAIN])
    _run(["iptables", "-I", "INPUT", "-i", "lo", "-j", CHAIN])


def remove_chain() -> None:
    """Also removes leftovers of an interrupted earlier run."""
    while subprocess.run(["iptables", "-D", "INPUT", "-i", "lo", "-j", CHAIN], capture_output=True).returncode == 0:
        pass
    subprocess.run(["iptables", "-F", CHAIN], capture_output=True)
    subprocess.run(["iptables", "-X", CHAIN], capture_output=True)


def _alive(pid: int | None) -> bool:
    """A live process (not a zombie left for its parent to reap)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return "State:\tZ" not in status.read()
    except OSError:
        return False


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
