"""``python -m tests.chaos [--short] [--brokers 3] [...]``: the chaos suite (see the README, "Chaos suite").

Start the split stack on the suite's own PostgreSQL cluster and Kafka broker, or three-broker
cluster (which ``scripts/chaos.sh`` prepares), supervise every process, let customers order while
the fault plan plays, heal, settle, and check the invariants. Exit status 0 only when every one
holds. On the cluster a probe writes beside the stack throughout, to measure how long writes
stopped and to prove that nothing acknowledged was lost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.chaos import cluster as kafka_cluster
from tests.chaos import faults, heal, infra, invariants, observe
from tests.chaos.customers import Load, operator
from tests.chaos.faults import say
from tests.chaos.supervisor import Supervisor, from_procfile, replica

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "log" / "chaos"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the size `make test` runs (>= 300 orders, 12 faults)")
    parser.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3),
        default=1,
        help="3: the three-broker cluster (replication factor 3, min.insync.replicas 2), whose nodes the faults kill",
    )
    parser.add_argument(
        "--orders", type=int, help="orders to place at least (default 300 short, 2000 full, 1100 full on three brokers)"
    )
    parser.add_argument("--customers", type=int, help="customer threads (default 20 short, 30 full)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--port", type=int, default=8400, help="the router; web processes on the next six ports")
    parser.add_argument("--fault-interval", type=float, help="mean seconds between faults (default 2 short, 5 full)")
    parser.add_argument("--settle-timeout", type=float, help="seconds for every order to become terminal")
    parser.add_argument("--keep", action="store_true", help="keep the stack up (supervised) until Ctrl-C")
    args = parser.parse_args(argv)
    args.orders = args.orders or (300 if args.short else 2000 if args.brokers == 1 else 1100)
    args.customers = args.customers or (20 if args.short else 30)
    args.fault_interval = args.fault_interval or (2.0 if args.short else 5.0)
    args.settle_timeout = args.settle_timeout or (120.0 if args.short else 300.0)
    return args


def environment(chaos: infra.Infra) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # gunicorn of this virtualenv
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": chaos.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": chaos.bootstrap,
        "LOTUS_KAFKA_NAMESPACE": f"chaos{int(time.time())}",
        # The deadline checker does real work under faults: unpaid orders expire after 30 s.
        "LOTUS_PAYMENT_TIMEOUT": "30",
        "LOTUS_DEADLINE_CHECK_SECONDS": "2",
        # On the cluster every topic is replicated to all three nodes, and a write needs two of them.
        **(
            {"LOTUS_KAFKA_REPLICATION_FACTOR": "3", "LOTUS_KAFKA_MIN_INSYNC_REPLICAS": "2"} if chaos.brokers > 1 else {}
        ),
        # Every customer comes from 127.0.0.1 and retries through faults: no throttle may refuse
        # them (a caller's LOTUS_THROTTLE_* still wins).
        **{
            f"LOTUS_THROTTLE_{name}": os.environ.get(f"LOTUS_THROTTLE_{name}", "1000000/min")
            for name in ("LOGIN_ACCOUNT", "LOGIN_ADDRESS", "REGISTER", "TOP_UP", "PLACE")
        },
    }


def prepare_databases(env: dict[str, str]) -> None:
    with (LOG_DIR / "setup.log").open("ab") as log:
        for command in (["createdbs", "--fresh"], ["migrateall"], ["kafka_topics"], ["seed"]):
            subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=env, stdout=log, stderr=log, check=True
            )


def processes(port: int) -> list:
    procfile = subprocess.run(
        [str(ROOT / "scripts" / "stack.sh"), "procfile", "chaos", str(port)], capture_output=True, text=True, check=True
    ).stdout.strip()
    listed = from_procfile(Path(procfile).read_text(), LOG_DIR)
    by_name = {process.name: process for process in listed}
    # A standby relay for orders and a second consumer for orders and billing.
    return [
        *listed,
        replica(by_name["relay-orders"], "relay-orders-standby"),
        replica(by_name["consume-orders-1"], "consume-orders-2"),
        replica(by_name["consume-billing-1"], "consume-billing-2"),
    ]


def wait_ready(urls: list[str], env: dict[str, str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all(map(heal.ready, urls)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack was not ready within {timeout:.0f} s; logs in {LOG_DIR}")
        time.sleep(0.5)
    subprocess.run(
        [sys.executable, "manage.py", "ping", "--timeout", "90"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def progress(load: Load, stop: threading.Event) -> None:
    while not stop.wait(10):
        book = load.book
        say(f"load: {book.placed()} placed, {len(book.accepted)} accepted; {dict(book.stats)}")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    chaos = infra.Infra(ROOT, brokers=args.brokers)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old in LOG_DIR.glob("*.log"):
        old.unlink()
    env = environment(chaos)
    url = f"http://127.0.0.1:{args.port}"
    ready_urls = [url] + [f"http://127.0.0.1:{args.port + i}" for i in range(1, 7)]
    began = time.monotonic()
    infra.install_chain()
    supervisor = Supervisor(processes(args.port), env, ROOT)
    probe: kafka_cluster.Probe | None = None
    try:
        prepare_databases(env)
        supervisor.start()
        wait_ready(ready_urls, env)
        say(f"stack up after {time.monotonic() - began:.0f} s: {len(supervisor.processes)} supervised processes")
        cluster = kafka_cluster.Cluster(chaos.bootstrap, chaos.brokers) if chaos.brokers > 1 else None
        if cluster is not None:
            probe = start_probe(cluster, env["LOTUS_KAFKA_NAMESPACE"])
        injector = faults.Injector(supervisor, chaos, sizes(args), args.seed, args.fault_interval, cluster=cluster)
        planned = injector.expected_seconds()
        load = Load(url, args.customers, args.orders, args.seed, duration=planned, max_seconds=planned * 1.5 + 30)
        ops = operator(url, load.book)
        say(f"{args.customers} customers; {len(injector.plan)} faults planned over about {planned:.0f} s")
        load.until = injector.done
        stop_progress = threading.Event()
        threading.Thread(target=progress, args=(load, stop_progress), daemon=True).start()
        injector.thread.start()
        load.run()
        stop_progress.set()
        say(f"load done after {time.monotonic() - began:.0f} s; healing")
        heal.restore(supervisor, chaos, injector, ready_urls)
        settled = heal.settle(load, ops, chaos.database_url, args.settle_timeout)
        if not settled:
            say(f"not settled within {args.settle_timeout:.0f} s; checking anyway")
        cluster_facts = None
        if cluster is not None and probe is not None:
            cluster_facts = read_cluster(cluster, probe, env["LOTUS_KAFKA_NAMESPACE"])
        passed, failed, lines = check(load, supervisor, chaos, cluster_facts)
        print("\n".join(lines))
        print(injector.summary())
        if probe is not None:
            print("\n".join(kafka_cluster.figures(injector.broker_faults, probe)))
        book = load.book
        for error in injector.errors + load.errors:
            print(f"note: {error}")
        if len(book.accepted) < args.orders:
            print(f"note: only {len(book.accepted)} orders accepted, fewer than the {args.orders} asked for")
        print(
            f"load: {len(book.accepted)} orders accepted of {book.placed()} placed by {args.customers} customers "
            f"({len(book.retried)} keys retried); {dict(book.stats)}; {time.monotonic() - began:.0f} s in all"
        )
        print(f"{passed} passed, {failed} failed")
        if args.keep:
            say(f"--keep: the stack stays up at {url} (logs in {LOG_DIR}); Ctrl-C to tear it down")
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        return 1 if failed else 0
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if probe is not None:
            probe.stop(timeout=5)
        supervisor.stop()
        infra.remove_chain()


def sizes(args: argparse.Namespace) -> faults.Sizes:
    if args.brokers > 1:
        return faults.CLUSTER_SHORT if args.short else faults.CLUSTER_FULL
    return faults.SHORT if args.short else faults.FULL


def start_probe(cluster: kafka_cluster.Cluster, namespace: str) -> kafka_cluster.Probe:
    """The probe topic (replication factor 3, min.insync.replicas 2, like the stack's), and the
    probe writing to it from now until the end."""
    topic = f"{namespace}.chaos-probe"
    cluster.create_probe_topic(topic, replicas=3, min_insync=2)
    probe = kafka_cluster.Probe(cluster.bootstrap, topic)
    probe.start()
    return probe


def read_cluster(
    cluster: kafka_cluster.Cluster, probe: kafka_cluster.Probe, namespace: str
) -> tuple[dict[str, tuple[list[int], str]], list[str]]:
    """(the replication of every topic of the run and of the consumer offsets, the acknowledged
    probe records missing from the probe topic), once the probe stopped."""
    left = probe.stop()
    if left:
        say(f"probe: {left} records still without a verdict")
    replication = cluster.replication((f"{namespace}.", "__consumer_offsets"))
    lost = kafka_cluster.lost(probe.snapshot(), probe.read_back())
    return replication, lost


def check(
    load: Load,
    supervisor: Supervisor,
    chaos: infra.Infra,
    cluster_facts: tuple[dict[str, tuple[list[int], str]], list[str]] | None = None,
) -> tuple[int, int, list[str]]:
    """Check; a failure right after settling is read again a few times (consumers may still be
    applying the last messages), and the last reading counts. ``cluster_facts``: what
    :func:`read_cluster` found, checked as well."""
    base = chaos.database_url
    checks = invariants.CHECKS + (invariants.CLUSTER_CHECKS if cluster_facts is not None else [])
    for attempt in range(4):
        exits = [exit.describe() for exit in supervisor.unexpected]
        world = observe.observe(base, load.book, load.registered(), exits)
        world.reconciliation = observe.reconciliation(environment(chaos), ROOT)
        if cluster_facts is not None:
            world.replication, world.lost_probe_records = cluster_facts
            world.expected_replication = (3, 2)
        passed, failed, lines = invariants.run_checks(world, checks)
        if not failed or attempt == 3:
            return passed, failed, lines
        time.sleep(5)
    raise AssertionError("unreachable")
