"""The fault injector: a seeded plan of faults, played one after another while customers order.

Process faults go through the supervisor (which restarts what was killed); infrastructure
faults go through :class:`~tests.chaos.infra.Infra`. Every fault is printed with a timestamp
when it starts, so that a failure can be lined up with the process logs.

On the three-broker cluster (``--brokers 3``) the broker faults kill nodes of the cluster: one
at a time (the partition leaders move and writes go on), or two at once (fewer than
``min.insync.replicas`` left: writes stop until they are back). Each such fault waits, after the
restart, until every partition is fully in sync again, so that the next one hits a whole cluster
(one at a time means one at a time); its times are kept for the figures of the summary.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from tests.chaos.cluster import BrokerFault, Cluster
from tests.chaos.infra import Infra
from tests.chaos.supervisor import Supervisor

FREEZE_SECONDS = 30
BROKER_DOWN_SECONDS = 20
KAFKA_CUT_SECONDS = 20
POSTGRES_CUT_SECONDS = 10
NODE_DOWN_SECONDS = (15, 20)  # one node of the cluster, drawn between these
DOUBLE_DOWN_SECONDS = 20  # two nodes at once
IN_SYNC_TIMEOUT = 180  # after a restart, the wait for every partition to be fully in sync
#: How often a single-node kill picks the node leading the most partitions rather than any node.
LEADER_SHARE = 0.5

#: Which kind of process a SIGKILL picks, and how often.
KILL_WEIGHTS = {"relay": 35, "consume": 35, "web": 20, "deadlines": 10}


@dataclass(frozen=True)
class Sizes:
    kills: int
    freezes: int
    broker_crashes: int
    postgres_restarts: int
    kafka_cuts: int
    postgres_cuts: int
    node_kills: int = 0  # one node of the cluster
    double_kills: int = 0  # two nodes at once

    def plan(self, rng: random.Random) -> list[str]:
        """The faults in a seeded random order; kills name the kind of process (``kill:relay``),
        every kind at least once, and the process itself is picked when the kill happens."""
        kinds = list(KILL_WEIGHTS)[: self.kills]
        kinds += rng.choices(list(KILL_WEIGHTS), weights=list(KILL_WEIGHTS.values()), k=self.kills - len(kinds))
        faults = (
            [f"kill:{kind}" for kind in kinds]
            + ["freeze"] * self.freezes
            + ["broker-crash"] * self.broker_crashes
            + ["postgres-restart"] * self.postgres_restarts
            + ["kafka-cut"] * self.kafka_cuts
            + ["postgres-cut"] * self.postgres_cuts
            + ["node-kill"] * self.node_kills
            + ["double-kill"] * self.double_kills
        )
        rng.shuffle(faults)
        return faults


SHORT = Sizes(kills=8, freezes=1, broker_crashes=1, postgres_restarts=1, kafka_cuts=0, postgres_cuts=1)
FULL = Sizes(kills=62, freezes=3, broker_crashes=2, postgres_restarts=2, kafka_cuts=1, postgres_cuts=1)
#: The three-broker variant: broker kills, and fewer process faults to keep the saga stressed.
CLUSTER_SHORT = Sizes(
    kills=6,
    freezes=0,
    broker_crashes=0,
    postgres_restarts=0,
    kafka_cuts=0,
    postgres_cuts=0,
    node_kills=2,
    double_kills=1,
)
CLUSTER_FULL = Sizes(
    kills=16,
    freezes=1,
    broker_crashes=0,
    postgres_restarts=1,
    kafka_cuts=0,
    postgres_cuts=0,
    node_kills=6,
    double_kills=1,
)


def say(message: str) -> None:
    print(f"chaos: {time.strftime('%H:%M:%S')} {message}", flush=True)


class Injector:
    def __init__(
        self,
        supervisor: Supervisor,
        infra: Infra,
        sizes: Sizes,
        seed: int,
        interval: float,
        cluster: Cluster | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.infra = infra
        self.cluster = cluster
        self.broker_faults: list[BrokerFault] = []
        self.rng = random.Random(seed)
        self.plan = sizes.plan(self.rng)
        self.interval = interval
        self.injected: Counter[str] = Counter()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.errors: list[str] = []
        self.timers: list[threading.Timer] = []
        self.thread = threading.Thread(target=self.run, name="faults", daemon=True)

    def run(self) -> None:
        try:
            for fault in self.plan:
                if self.stop.wait(self.rng.uniform(0.5, 1.5) * self.interval):
                    break
                name, _, kind = fault.partition(":")
                try:
                    getattr(self, name.replace("-", "_"))(*filter(None, [kind]))
                except Exception as error:  # noqa: BLE001 - reported, and the run goes on healing
                    self.errors.append(f"{fault}: {error}")
                    say(f"fault {fault} failed: {error}")
        finally:
            for timer in self.timers:  # a freeze lasts its 30 s even when it was the last fault
                timer.join()
            self.done.set()

    def expected_seconds(self) -> float:
        """About how long the plan takes (the intervals plus the faults that last)."""
        lasting = {"broker-crash": BROKER_DOWN_SECONDS + 12, "kafka-cut": KAFKA_CUT_SECONDS}
        lasting |= {"postgres-cut": POSTGRES_CUT_SECONDS, "postgres-restart": 3}
        # A node takes 15-30 s to start again on a busy machine (a JVM, then the metadata to catch up).
        lasting |= {"node-kill": sum(NODE_DOWN_SECONDS) / 2 + 25, "double-kill": DOUBLE_DOWN_SECONDS + 30}
        return sum(self.interval + lasting.get(fault, 0) for fault in self.plan)

    def kill(self, kind: str) -> None:
        candidates = self.supervisor.named(kind)
        target = self.rng.choice([process for process in candidates if process.running] or candidates)
        if self.supervisor.kill(target):
            say(f"SIGKILL {target.name}")
            self.injected[f"SIGKILL {kind}"] += 1
        else:
            say(f"not killing {target.name}: it is not running (being restarted)")

    def freeze(self) -> None:
        """The first freeze hits the orders relay (the lease's usual holder, with a standby beside
        it); later ones a random relay or consumer."""
        candidates = self.supervisor.named("relay") + self.supervisor.named("consume")
        first = not self.injected["SIGSTOP"]
        target = self.supervisor.processes["relay-orders"] if first else self.rng.choice(candidates)
        say(f"SIGSTOP {target.name} for {FREEZE_SECONDS} s")
        self.supervisor.freeze(target)
        self.injected["SIGSTOP"] += 1
        timer = threading.Timer(FREEZE_SECONDS, self._thaw, args=(target,))
        timer.daemon = True
        timer.start()
        self.timers.append(timer)

    def _thaw(self, target) -> None:
        if target.frozen:
            say(f"SIGCONT {target.name}")
            self.supervisor.thaw(target)

    def broker_crash(self) -> None:
        say(f"SIGKILL the Kafka broker; back in {BROKER_DOWN_SECONDS} s")
        self.infra.kill_broker()
        self.injected["broker crash"] += 1
        time.sleep(BROKER_DOWN_SECONDS)
        self.infra.start_broker()
        say("Kafka broker is back")

    def node_kill(self) -> None:
        """SIGKILL one node of the cluster: often the one leading the most partitions."""
        leaders = self._leaders()
        busiest = max(self.infra.nodes, key=lambda node: leaders[node])
        node = busiest if self.rng.random() < LEADER_SHARE else self.rng.choice(self.infra.nodes)
        self._kill_nodes((node,), self.rng.uniform(*NODE_DOWN_SECONDS), leaders, "SIGKILL Kafka node")

    def double_kill(self) -> None:
        """SIGKILL two nodes at once: fewer than min.insync.replicas remain, writes stop."""
        nodes = tuple(sorted(self.rng.sample(self.infra.nodes, 2)))
        self._kill_nodes(nodes, DOUBLE_DOWN_SECONDS, self._leaders(), "SIGKILL Kafka nodes")

    def _leaders(self) -> Counter[int]:
        assert self.cluster is not None, "node faults need the cluster (--brokers 3)"
        try:
            return self.cluster.leaders()
        except Exception:  # noqa: BLE001 - a cluster that does not answer has no leaders to prefer
            return Counter()

    def _kill_nodes(self, nodes: tuple[int, ...], down: float, leaders: Counter[int], what: str) -> None:
        assert self.cluster is not None
        led = sum(leaders[node] for node in nodes)
        names = " and ".join(map(str, nodes))
        say(f"{what} {names} (leading {led} partitions); back in {down:.0f} s")
        fault = BrokerFault(nodes=nodes, led=led, killed=time.monotonic())
        for node in nodes:
            self.infra.kill_broker(node)
        self.broker_faults.append(fault)
        self.injected["Kafka node SIGKILL" if len(nodes) == 1 else "two Kafka nodes SIGKILL"] += 1
        time.sleep(max(0.0, down - (time.monotonic() - fault.killed)))
        fault.restarted = time.monotonic()
        self.infra.start_broker(*nodes)
        fault.ready = time.monotonic()
        say(
            f"Kafka {fault.label} back after {fault.ready - fault.restarted:.1f} s; waiting for every partition in sync"
        )
        fault.recovered = self.cluster.wait_in_sync(IN_SYNC_TIMEOUT)
        if fault.recovered is None:
            raise RuntimeError(f"partitions still under-replicated {IN_SYNC_TIMEOUT} s after {fault.label} came back")
        say(f"every partition in sync again, {fault.recovered - fault.restarted:.1f} s after the restart")

    def postgres_restart(self) -> None:
        say("restart PostgreSQL (fast shutdown)")
        self.injected["PostgreSQL restart"] += 1
        self.infra.restart_postgres()
        say("PostgreSQL is back")

    def kafka_cut(self) -> None:
        self._cut("Kafka", self.infra.kafka_port, KAFKA_CUT_SECONDS)

    def postgres_cut(self) -> None:
        self._cut("PostgreSQL", self.infra.pg_port, POSTGRES_CUT_SECONDS)

    def _cut(self, what: str, port: int, seconds: int) -> None:
        say(f"cut the network to {what} (port {port}) for {seconds} s")
        self.injected[f"{what} partition"] += 1
        self.infra.cut(port)
        try:
            time.sleep(seconds)
        finally:
            self.infra.heal(port)
        say(f"network to {what} restored")

    def summary(self) -> str:
        counts = ", ".join(f"{count} x {kind}" for kind, count in sorted(self.injected.items()))
        return f"faults injected: {sum(self.injected.values())} ({counts})"
