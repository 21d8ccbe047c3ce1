"""What the three-broker variant measures and reads back: a write probe, the partitions' in-sync
replicas, and the replication settings of every topic.

The probe is a producer of its own (``acks=all``, idempotent, like the stack's relays) that writes
one small record to every partition of a probe topic (replication factor 3, ``min.insync.replicas``
2) every 100 ms and notes when each record was sent and acknowledged. The gaps between
acknowledgements show how long writes stopped while brokers were down, and at the end every
acknowledged record is looked for in the topic: "nothing acknowledged is lost" is checked, not
assumed. The arithmetic on those notes is pure (:func:`longest_gap`, :func:`first_ack_after`) and
tested on hand-made data.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

PROBE_INTERVAL = 0.1
PROBE_PARTITIONS = 3
#: A probe record waits this long for its acknowledgement (through the two-broker kill) before it fails.
PROBE_TIMEOUT_MS = 180_000


@dataclass(frozen=True)
class Ack:
    seq: int
    partition: int
    offset: int | None  # None: acknowledged without an offset (a duplicate of a batch the broker had)
    sent: float  # time.monotonic()
    acked: float


@dataclass
class BrokerFault:
    """One broker fault as the injector played it (monotonic times), measured afterwards."""

    nodes: tuple[int, ...]
    led: int  # partitions the killed node(s) led when they were killed
    killed: float
    restarted: float = 0.0  # when the restart began (`scripts/kafka.sh start`)
    ready: float = 0.0  # when the restarted node(s) answered
    recovered: float | None = None  # every partition fully in sync again; None: not within the timeout

    @property
    def label(self) -> str:
        return f"node {self.nodes[0]}" if len(self.nodes) == 1 else f"nodes {' and '.join(map(str, self.nodes))}"


def longest_gap(acks: list[Ack], start: float, end: float) -> float:
    """The longest time, on any one partition, from ``start`` or an acknowledged write after it to
    the next acknowledged write, up to the first one at or after ``end``: how long writes stopped.
    A partition with no acknowledgement from some point up to ``end`` counts as stopped until ``end``."""
    worst = 0.0
    for partition in {ack.partition for ack in acks}:
        times = sorted(ack.acked for ack in acks if ack.partition == partition)
        previous = start
        for moment in times:
            if moment <= start:
                continue
            worst = max(worst, moment - previous)
            previous = moment
            if moment >= end:
                break
        else:
            worst = max(worst, end - previous)
    return worst


def first_ack_after(acks: list[Ack], moment: float) -> float | None:
    """Seconds from ``moment`` to the first acknowledgement on every partition after it (writes
    resumed everywhere), None when a partition had none."""
    latest = 0.0
    for partition in {ack.partition for ack in acks}:
        later = [ack.acked for ack in acks if ack.partition == partition and ack.acked > moment]
        if not later:
            return None
        latest = max(latest, min(later) - moment)
    return latest


def lost(acked: list[Ack], found: set[tuple[int, int, int]]) -> list[str]:
    """Acknowledged records not read back: ``found`` holds (partition, offset, seq) of the topic.
    A record is looked for by its partition and sequence number: an acknowledgement may come
    without an offset (the broker answered a retried batch as a duplicate of one it already had)."""
    present = {(partition, seq) for partition, _, seq in found}
    return [
        f"probe record {ack.seq}, acknowledged at partition {ack.partition} offset {ack.offset}, is not in the topic"
        for ack in acked
        if (ack.partition, ack.seq) not in present
    ]


class Cluster:
    """The admin side: leaders, in-sync replicas and topic settings, read from the brokers."""

    def __init__(self, bootstrap: str, brokers: int) -> None:
        self.bootstrap = bootstrap
        self.brokers = brokers
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, "log_level": 2})

    def leaders(self, timeout: float = 10) -> Counter[int]:
        """How many partitions each node leads (every topic, internal ones too)."""
        metadata = self.admin.list_topics(timeout=timeout)
        return Counter(
            partition.leader
            for topic in metadata.topics.values()
            for partition in topic.partitions.values()
            if partition.leader >= 0
        )

    def under_replicated(self, timeout: float = 5) -> int | None:
        """Partitions whose in-sync replicas are fewer than their replicas (or that have no
        leader); None when the cluster did not answer or not every broker is registered."""
        try:
            metadata = self.admin.list_topics(timeout=timeout)
        except KafkaException:
            return None
        if len(metadata.brokers) < self.brokers:
            return None
        return sum(
            1
            for topic in metadata.topics.values()
            for partition in topic.partitions.values()
            if partition.leader < 0 or set(partition.isrs) != set(partition.replicas)
        )

    def wait_in_sync(self, timeout: float) -> float | None:
        """Poll until every partition is fully in sync; the monotonic time it was, None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.under_replicated() == 0:
                return time.monotonic()
            time.sleep(0.25)
        return None

    def replication(self, prefixes: tuple[str, ...], timeout: float = 30) -> dict[str, tuple[list[int], str]]:
        """``{topic: (replicas of each partition, min.insync.replicas)}`` for the topics whose
        names start with one of ``prefixes``, read back with the admin client."""
        metadata = self.admin.list_topics(timeout=timeout)
        names = sorted(name for name in metadata.topics if name.startswith(prefixes))
        if not names:
            return {}
        futures = self.admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in names], request_timeout=timeout
        )
        configs = {resource.name: future.result() for resource, future in futures.items()}
        return {
            name: (
                [len(partition.replicas) for _, partition in sorted(metadata.topics[name].partitions.items())],
                configs[name]["min.insync.replicas"].value,
            )
            for name in names
        }

    def create_probe_topic(self, topic: str, replicas: int, min_insync: int) -> None:
        futures = self.admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=PROBE_PARTITIONS,
                    replication_factor=replicas,
                    config={"min.insync.replicas": str(min_insync)},
                )
            ],
            operation_timeout=30,
        )
        for future in futures.values():
            future.result()


@dataclass
class Probe:
    """A thread writing to the probe topic until :meth:`stop`, noting every acknowledgement."""

    bootstrap: str
    topic: str
    acks: list[Ack] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    found: set[tuple[int, int, int]] = field(default_factory=set)  # what read_back read

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="probe", daemon=True)
        self.producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "client.id": "lotus-chaos-probe",
                "log_level": 2,  # a node down is expected: its connection errors would flood the output
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                "message.timeout.ms": PROBE_TIMEOUT_MS,
            }
        )

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        seq = 0
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            try:
                for partition in range(PROBE_PARTITIONS):
                    seq += 1
                    self._produce(seq, partition)
                self.producer.poll(0)
                next_tick = max(next_tick + PROBE_INTERVAL, time.monotonic())  # no catching up after a stall
                while (left := next_tick - time.monotonic()) > 0:
                    self.producer.poll(left)  # returns early when it served a verdict
            except Exception as error:  # noqa: BLE001 - the probe goes on; its errors are in the summary
                self.errors[f"probe: {error!r}"[:120]] += 1
                time.sleep(PROBE_INTERVAL)

    def _produce(self, seq: int, partition: int) -> None:
        sent = time.monotonic()
        try:
            self.producer.produce(
                self.topic,
                value=str(seq).encode(),
                partition=partition,
                on_delivery=lambda error, message: self._delivered(error, message, seq, sent),
            )
            self.sent += 1
        except (BufferError, KafkaException) as error:
            self.errors[f"produce: {error}"] += 1

    def _delivered(self, error: KafkaError | None, message, seq: int, sent: float) -> None:
        if error is not None:
            self.errors[error.name()] += 1
            return
        with self.lock:
            self.acks.append(Ack(seq, message.partition(), message.offset(), sent, time.monotonic()))

    def snapshot(self) -> list[Ack]:
        with self.lock:
            return list(self.acks)

    def stop(self, timeout: float = 60) -> int:
        """Stop writing and wait for the verdicts of what is in flight; returns how many are left."""
        self.stopping.set()
        self.thread.join(timeout=10)
        return self.producer.flush(timeout)

    def read_back(self, timeout: float = 120) -> set[tuple[int, int, int]]:
        """(partition, offset, seq) of every record in the probe topic, read from the beginning."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"lotus-chaos-probe-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "log_level": 2,
            }
        )
        found: set[tuple[int, int, int]] = set()
        try:
            ends = {
                p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=30)[1]
                for p in range(PROBE_PARTITIONS)
            }
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(PROBE_PARTITIONS)])
            done = {p for p, end in ends.items() if end == 0}
            deadline = time.monotonic() + timeout
            while len(done) < PROBE_PARTITIONS and time.monotonic() < deadline:
                message = consumer.poll(1)
                if message is None:
                    continue
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        done.add(message.partition())
                        continue
                    raise KafkaException(message.error())
                found.add((message.partition(), message.offset(), int(message.value())))
                if message.offset() + 1 >= ends[message.partition()]:
                    done.add(message.partition())
        finally:
            consumer.close()
        self.found = found
        return found


def figures(faults: list[BrokerFault], probe: Probe) -> list[str]:
    """The summary's lines about the broker faults, in seconds: how long writes stopped (the
    longest time any probe partition went without an acknowledged write, from the kill until the
    cluster was in sync again), how soon after the restart writes were acknowledged on every
    partition, and when every partition was fully in sync again."""
    acks = probe.snapshot()
    end = max((ack.acked for ack in acks), default=0.0)
    lines = []
    stopped: dict[int, list[float]] = {1: [], 2: []}
    in_sync: dict[int, list[float]] = {1: [], 2: []}
    for number, fault in enumerate(faults, 1):
        until = fault.recovered or end
        gap = longest_gap(acks, fault.killed, until)
        resumed = first_ack_after(acks, fault.restarted) if fault.restarted else None
        stopped[len(fault.nodes)].append(gap)
        detail = f"writes stopped {gap:.1f} s"
        if fault.restarted:
            detail += f"; down {fault.restarted - fault.killed:.1f} s, answering {fault.ready - fault.restarted:.1f} s"
            detail += " after the restart"
            detail += f", every partition acknowledging {resumed:.1f} s after it" if resumed is not None else ""
        if fault.recovered is not None and fault.restarted:
            in_sync[len(fault.nodes)].append(fault.recovered - fault.restarted)
            detail += f", all in sync {fault.recovered - fault.restarted:.1f} s after it"
        else:
            detail += ", NOT back in sync"
        lines.append(f"broker fault {number}: SIGKILL {fault.label} (leading {fault.led} partitions): {detail}")
    for count, what in ((1, "single-node kills"), (2, "two-node kills")):
        if stopped[count]:
            gaps = sorted(stopped[count])
            line = (
                f"{what} ({len(gaps)}): writes stopped at most {gaps[-1]:.1f} s (median {gaps[len(gaps) // 2]:.1f} s)"
            )
            if in_sync[count]:
                line += f"; recovered (every partition in sync) at most {max(in_sync[count]):.1f} s after the restart"
            lines.append(line)
    failed = ", ".join(f"{count} x {name}" for name, count in sorted(probe.errors.items())) or "none"
    lines.append(
        f"probe: {probe.sent} records sent (acks=all, idempotent, every 100 ms to each of {PROBE_PARTITIONS} "
        f"partitions), {len(acks)} acknowledged; failed: {failed}"
    )
    if probe.found:
        copies = Counter(seq for _, _, seq in probe.found)
        lines.append(
            f"probe topic read back: {len(probe.found)} records, {len(lost(acks, probe.found))} acknowledged ones "
            f"missing, {sum(n - 1 for n in copies.values())} written twice (a retry after an epoch bump: allowed)"
        )
    return lines
