"""`make bench`: saga throughput and latency on PostgreSQL + Kafka, with the machine's ceiling.

Starts a split stack (scripts/stack.sh: a web, a relay and consumers per service, nginx in
front), creates customers with money, and for a fixed time keeps ``--concurrency`` customers
busy: each places a product-1 order, waits until its saga completes, and places the next
(progress is printed). The same load runs first for ``--warmup`` seconds, left out of every
figure: a fresh broker and fresh processes are slow until the JVM has compiled Kafka's hot
code and the connections have prepared their statements. Then it reports:

* completed sagas per second, end-to-end latency p50/p95/p99 (order placed → the
  NotifyingSourceSystem transition, from the recorded history), HTTP p50/p99 of the place
  request, the largest outbox backlog, CPU seconds and peak memory per process group;
* the ceiling measured in the same run: ``pgbench -N`` on the same PostgreSQL, and a
  confluent-kafka produce → consume round trip; and the ratios
  ``sagas/s ÷ (pgbench TPS ÷ database transactions per saga)`` and
  ``latency p50 ÷ (hops x Kafka round trip)``.

It writes ``var/bench/result.json`` and ``var/bench/result.png`` and exits non-zero unless every
order reached NotifyingSourceSystem with money and stock balanced (what CI checks with --quick).
Benchmark set-up, not product behaviour: product 1 gets enough stock for the run and the
couriers an unlimited slot capacity, so that only the saga's own speed is measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
SERVICES = ("profiles", "billing", "orders", "stock", "delivery", "notifications")
#: Kafka hops on the saga's critical path: ChargeOrder, PaymentTaken, ReserveStock,
#: StockReserved, ReserveCourier, CourierReserved.
HOPS = 6
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


# -- the stack ---------------------------------------------------------------------------------
class Stack:
    def __init__(self, port: int, consumers: int, web_workers: int) -> None:
        self.port = port
        self.env = dict(os.environ, LOTUS_STACK_CONSUMERS=str(consumers), LOTUS_STACK_WEB_WORKERS=str(web_workers))
        self.url = f"http://127.0.0.1:{port}"
        self.values: dict[str, str] = {}

    def start(self) -> None:
        subprocess.run([ROOT / "scripts" / "stack.sh", "start", "bench", str(self.port)], check=True, env=self.env)
        exported = subprocess.run(
            [ROOT / "scripts" / "stack.sh", "env", "bench"], check=True, capture_output=True, text=True
        ).stdout
        for line in exported.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            self.values[key] = value

    def stop(self) -> None:
        subprocess.run([ROOT / "scripts" / "stack.sh", "stop", "bench"], check=False)

    def db(self, service: str) -> str:
        return f"{self.values['DATABASE_URL']}_{service}"

    def sql(self, service: str, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.db(service), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def honcho_pid(self) -> int:
        return int((ROOT / "var" / "run" / "stack-bench.pid").read_text())


# -- process sampling ----------------------------------------------------------------------------
def _children(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError):
                continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == pid]
        found.extend(kids)
        frontier.extend(kids)
    return found


def _group(pid: int, ports: dict[str, str]) -> str | None:
    """The process group ("consumer", "web", ...) and the service, as in "consumer orders"."""
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    for marker, group in (
        ("gunicorn", "web"),
        ("manage.py relay", "relay"),
        ("manage.py consume", "consumer"),
        ("expire_orders", "deadlines"),
        ("nginx", "router"),
    ):
        if marker in cmdline:
            service = re.search(r"--service (\w+)", cmdline) or re.search(r"--bind [\d.]+:(\d+)", cmdline)
            return f"{group} {ports.get(service.group(1), service.group(1))}" if service else group
    return None


def _machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine, all cores (from /proc/stat)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / CLK_TCK, sum(ticks) / CLK_TCK


def _outside_group(pid: int) -> str | None:
    """PostgreSQL, Kafka and this client: they share the two cores with the stack."""
    if pid == os.getpid():
        return "bench-client"
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    if cmdline.startswith("postgres"):
        return "postgres"
    if "kafka.Kafka" in cmdline:
        return "kafka"
    return None


def _cpu_and_rss(pid: int) -> tuple[float, int]:
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = int(fields[21]) * PAGE
    return cpu, rss


@dataclass
class Sampler:
    stack: Stack
    cpu_start: dict[str, float] = field(default_factory=dict)
    cpu_end: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    backlog: list[tuple[float, int]] = field(default_factory=list)

    def _processes(self) -> dict[str, tuple[float, int]]:
        """CPU seconds and memory of each process of the stack (and of PostgreSQL, Kafka and
        this client), by name: "consumer orders", "web billing", "postgres", ..."""
        named: dict[str, list[float]] = {}
        stack_pids = set(_children(self.stack.honcho_pid()))
        ports = {str(self.stack.port + i): service for i, service in enumerate(SERVICES, start=1)}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            name = _group(pid, ports) if pid in stack_pids else _outside_group(pid)
            if name is None:
                continue
            try:
                cpu, rss = _cpu_and_rss(pid)
            except OSError:
                continue
            totals = named.setdefault(name, [0.0, 0])
            totals[0] += cpu
            totals[1] += rss
        return {name: (cpu, int(rss)) for name, (cpu, rss) in named.items()}

    def snapshot(self, into: dict[str, float]) -> None:
        into["machine-busy"], into["machine-total"] = _machine_cpu()
        groups: dict[str, int] = {}
        for name, (cpu, rss) in self._processes().items():
            into[name] = cpu
            group = name.split()[0]
            groups[group] = groups.get(group, 0) + rss
        for group, rss in groups.items():
            self.peak_rss[group] = max(self.peak_rss.get(group, 0), rss)

    def outbox_backlog(self, connections: dict[str, psycopg.Connection]) -> int:
        backlog = 0
        for service in SERVICES:
            if service not in connections:  # one connection each: a new one per sample costs PostgreSQL a fork
                connections[service] = psycopg.connect(self.stack.db(service), autocommit=True)
            query = "SELECT count(*) FROM messaging_outboxmessage WHERE sent_at IS NULL"
            backlog += connections[service].execute(query).fetchone()[0]
        return backlog

    def run(self, stop: threading.Event, started: float) -> None:
        connections: dict[str, psycopg.Connection] = {}
        try:
            while not stop.wait(0.5):
                self.backlog.append((time.time() - started, self.outbox_backlog(connections)))
                self.snapshot({})
        finally:
            for connection in connections.values():
                connection.close()


# -- the ceiling ---------------------------------------------------------------------------------
def pgbench_tps(base_url: str, clients: int, seconds: int) -> float:
    admin = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        # pgbench -i replaces its own tables; dropping the database could race autovacuum.
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'lotus_pgbench'").fetchone():
            conn.execute("CREATE DATABASE lotus_pgbench")
    target = base_url.rsplit("/", 1)[0] + "/lotus_pgbench"
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", target], check=True, capture_output=True)
    result = subprocess.run(
        ["pgbench", "-N", "-c", str(clients), "-j", "2", "-T", str(seconds), target],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    if not match:
        raise RuntimeError(f"cannot read pgbench's TPS from:\n{result.stdout}")
    # Clean up what the run left (a million-row table's dead tuples) now, rather than leave
    # autovacuum to do it during whatever runs next, such as the next benchmark.
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history")
    return float(match.group(1))


def kafka_round_trip_ms(samples: int = 200) -> list[float]:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    topic = f"bench-rtt-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all", "enable.idempotence": True})
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "auto.offset.reset": "earliest",  # a fresh topic: nothing old to skip, nothing new missed
            "fetch.wait.max.ms": 50,
        }
    )
    consumer.subscribe([topic])
    while not consumer.assignment():
        consumer.poll(0.1)
    times = []
    for index in range(samples + 10):
        began = time.perf_counter()
        producer.produce(topic, value=str(index).encode())
        producer.flush(5)
        deadline = time.monotonic() + 10
        while True:
            record = consumer.poll(1)
            if record is not None and not record.error() and record.value() == str(index).encode():
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"round trip {index} did not come back within 10 s")
        if index >= 10:  # warm-up
            times.append((time.perf_counter() - began) * 1000)
    consumer.close()
    return times


# -- the run -------------------------------------------------------------------------------------
def make_customer(stack: Stack, money: int) -> requests.Session:
    session = requests.Session()
    email, password = f"bench-{uuid.uuid4().hex[:12]}@lotus.test", "Bench-Customer-Pass-2026"
    session.post(f"{stack.url}/profile/register", json={"email": email, "password": password}, timeout=30)
    access = session.post(f"{stack.url}/profile/login", json={"email": email, "password": password}, timeout=30)
    access.raise_for_status()
    session.headers["Authorization"] = f"Bearer {access.json()['access']}"
    session.post(f"{stack.url}/billing/add-money?money={money}", timeout=30).raise_for_status()
    return session


def prepare(stack: Stack, customers: int) -> list[requests.Session]:
    operator = requests.Session()
    login = operator.post(
        f"{stack.url}/profile/login",
        json={
            "email": os.environ.get("LOTUS_OPERATOR_EMAIL", "operator@lotus.local"),
            "password": os.environ["LOTUS_OPERATOR_PASSWORD"],
        },
        timeout=30,
    )
    login.raise_for_status()
    operator.headers["Authorization"] = f"Bearer {login.json()['access']}"
    for _ in range(10):
        operator.get(f"{stack.url}/stock/add?idSubscription=1&count=100000", timeout=30).raise_for_status()
    stack.sql("delivery", "UPDATE delivery_courier SET capacity_per_slot = 1000000000")
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: make_customer(stack, 1_000_000), range(customers)))


class CompletionWatcher:
    """Tells waiting customers when their order reached NotifyingSourceSystem: one query on the
    orders database every few milliseconds for all orders in flight (cheaper than each customer
    polling the API, so it disturbs the measured system less)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.in_flight: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.queries = 0

    def wait(self, order_id: str, timeout: float) -> bool:
        done = threading.Event()
        with self.lock:
            self.in_flight[order_id] = done
        return done.wait(timeout)

    def run(self) -> None:
        with psycopg.connect(self.stack.db("orders"), autocommit=True) as conn:
            while not self.stop.wait(0.01):
                with self.lock:
                    waiting = list(self.in_flight)
                if not waiting:
                    continue
                self.queries += 1
                rows = conn.execute(
                    "SELECT id::text FROM orders_order WHERE status = 'NotifyingSourceSystem' AND id = ANY(%s::uuid[])",
                    (waiting,),
                ).fetchall()
                with self.lock:
                    for (order_id,) in rows:
                        self.in_flight.pop(order_id).set()


class Customer:
    """One customer's keep-alive connection for placing orders. The load generator shares the
    two cores with the system it measures, so the hot loop uses the standard library's lean
    HTTP client rather than ``requests`` (which cost about twice the CPU per request)."""

    def __init__(self, stack: Stack, session: requests.Session) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        self.headers = {"Authorization": session.headers["Authorization"], "Content-Length": "0"}

    def place(self, path: str) -> tuple[int, bytes]:
        self.connection.request("POST", path, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()  # the body is read whole: the connection is reused


def drive(
    stack: Stack, sessions: list[requests.Session], seconds: float
) -> tuple[list[tuple[float, float]], list[str]]:
    """Each customer places a product-1 order, waits until its saga completes, and places the
    next, until ``seconds`` have passed: ``concurrency`` sagas in flight at all times."""
    deadline = time.perf_counter() + seconds
    http: list[tuple[float, float]] = []
    orders: list[str] = []
    lock = threading.Lock()
    errors: list[str] = []
    watcher = CompletionWatcher(stack)
    watching = threading.Thread(target=watcher.run, daemon=True)
    watching.start()

    def customer_loop(session: requests.Session) -> None:
        customer = Customer(stack, session)
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            status, body = customer.place("/order/place?idSubscription=1")
            elapsed = (time.perf_counter() - began) * 1000
            if status != 202:
                with lock:
                    errors.append(f"{status} {body[:200].decode(errors='replace')}")
                return
            order_id = json.loads(body)["orderId"]
            with lock:
                http.append((time.time(), elapsed))
                orders.append(order_id)
            if not watcher.wait(order_id, timeout=60):
                with lock:
                    errors.append(f"order {order_id} did not complete within 60 s")
                return

    def progress() -> None:
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            time.sleep(2)
            with lock:
                placed, in_flight = len(orders), len(watcher.in_flight)
            say(f"  {time.perf_counter() - started:5.0f} s: {placed} placed, {placed - in_flight} completed")

    reporter = threading.Thread(target=progress, daemon=True)
    reporter.start()
    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        list(pool.map(customer_loop, sessions))
    watcher.stop.set()
    reporter.join(3)
    if errors:
        raise RuntimeError(f"{len(errors)} orders failed, first: {errors[0]}")
    return http, orders, watcher.queries


def wait_until_done(stack: Stack, orders: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = stack.sql(
            "orders",
            "SELECT count(*) FROM orders_order WHERE status = 'NotifyingSourceSystem' AND id = ANY(%s::uuid[])",
            (orders,),
        )[0][0]
        if done == len(orders):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {len(orders)} orders reached NotifyingSourceSystem in {timeout:.0f} s")
        say(f"  draining: {done}/{len(orders)} completed")
        time.sleep(1)


def check_books(stack: Stack) -> list[str]:
    problems = []
    unbalanced = stack.sql(
        "billing",
        "SELECT a.customer_id FROM billing_account a LEFT JOIN billing_ledgerentry e ON e.account_id = a.id "
        "GROUP BY a.id HAVING a.balance <> COALESCE(SUM(e.amount), 0) OR a.balance < 0",
    )
    if unbalanced:
        problems.append(f"{len(unbalanced)} accounts whose ledger does not sum to the balance")
    stock = stack.sql("stock", "SELECT product_id FROM stock_stockitem WHERE on_hand + reserved <> received")
    if stock:
        problems.append(f"stock rows that do not balance: {stock}")
    return problems


def transactions(stack: Stack) -> int:
    names = [f"{stack.values['DATABASE_URL'].rsplit('/', 1)[1]}_{service}" for service in SERVICES]
    rows = stack.sql("orders", "SELECT sum(xact_commit) FROM pg_stat_database WHERE datname = ANY(%s)", (names,))
    return int(rows[0][0] or 0)


def plot(path: Path, completions: list[float], latencies: list[tuple[float, float]], started: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    seconds = [t - started for t in completions]
    if seconds:
        top.hist(seconds, bins=max(1, int(max(seconds)) + 1), color="tab:blue")
    top.set_ylabel("sagas completed / s")
    top.set_title("Lotus saga benchmark")
    buckets: dict[int, list[float]] = {}
    for finished, latency in latencies:
        buckets.setdefault(int((finished - started) // 5) * 5, []).append(latency)
    xs = sorted(buckets)
    for fraction, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        bottom.plot(xs, [percentile(buckets[x], fraction) for x in xs], marker="o", label=label)
    bottom.set_ylabel("end-to-end latency (ms)")
    bottom.set_xlabel("seconds since the start of the run")
    bottom.legend()
    figure.tight_layout()
    figure.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent customers placing orders")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--consumers", type=int, default=1, help="consumer processes per service")
    parser.add_argument("--web-workers", type=int, default=1, help="gunicorn workers per service")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument(
        "--warmup",
        type=float,
        default=10,
        help="seconds of the same load before the measured run, left out of every figure (a fresh stack and "
        "broker run slowly at first: the JVM compiles Kafka's hot code, statements get prepared)",
    )
    parser.add_argument("--quick", action="store_true", help="10 customers for 15 s after 3 s of warm-up (CI)")
    args = parser.parse_args()
    # The secrets the stack runs with (scripts/stack.sh reads the same): the environment's, or
    # this checkout's, generated once; the operator's password signs the benchmark in.
    sys.path.insert(0, str(ROOT))
    from lotus import local_secrets

    local_secrets.load()
    if args.quick:
        args.concurrency, args.duration, args.warmup = 10, 15, 3
    OUT.mkdir(parents=True, exist_ok=True)

    stack = Stack(args.port, args.consumers, args.web_workers)
    say(f"starting the stack ({args.consumers} consumer(s) and {args.web_workers} web worker(s) per service)")
    stack.start()
    try:
        say(f"creating {args.concurrency} customers with money")
        sessions = prepare(stack, args.concurrency)
        warmed: list[str] = []
        if args.warmup > 0:
            say(f"warming up: the same load for {args.warmup:.0f} s, not measured")
            _, warmed, _ = drive(stack, sessions, args.warmup)
        sampler = Sampler(stack)
        sampler.snapshot(sampler.cpu_start)
        xacts_before = transactions(stack)
        say(f"driving product-1 orders at concurrency {args.concurrency} for {args.duration:.0f} s")
        stop = threading.Event()
        started = time.time()
        sampling = threading.Thread(target=sampler.run, args=(stop, started), daemon=True)
        sampling.start()
        http, orders, watcher_queries = drive(stack, sessions, args.duration)
        load_seconds = time.time() - started
        wait_until_done(stack, warmed + orders, timeout=180)
        stop.set()
        sampling.join(5)
        sampler.snapshot(sampler.cpu_end)
        # The bench's own queries (completion watcher, backlog sampler) are not the saga's.
        xacts = transactions(stack) - xacts_before - watcher_queries - len(sampler.backlog) * len(SERVICES) - 1
        rows = stack.sql(
            "orders",
            "SELECT extract(epoch FROM o.created_at), extract(epoch FROM t.at) FROM orders_order o "
            "JOIN orders_ordertransition t ON t.order_id = o.id AND t.target = 'NotifyingSourceSystem' "
            "WHERE o.id = ANY(%s::uuid[])",
            (orders,),
        )
        problems = check_books(stack)
    finally:
        stack.stop()  # and deletes the run's topics

    completions = [float(done) for _, done in rows]
    latencies = [(float(done), (float(done) - float(placed)) * 1000) for placed, done in rows]
    in_window = sum(1 for t in completions if started <= t <= started + load_seconds)
    e2e = [latency for _, latency in latencies]
    http_ms = [ms for _, ms in http]

    say("measuring the ceiling: pgbench -N and a Kafka round trip")
    tps = pgbench_tps(os.environ["DATABASE_URL"], clients=min(args.concurrency, 20), seconds=5 if args.quick else 15)
    rtt = kafka_round_trip_ms(50 if args.quick else 200)
    per_saga = xacts / max(1, len(rows))
    by_process = {name: sampler.cpu_end[name] - sampler.cpu_start.get(name, 0) for name in sampler.cpu_end}
    busy, total = by_process.pop("machine-busy"), by_process.pop("machine-total")
    cpu: dict[str, float] = {}
    for name, seconds in by_process.items():
        cpu[name.split()[0]] = cpu.get(name.split()[0], 0) + seconds
    result = {
        "concurrency": args.concurrency,
        "duration_s": round(load_seconds, 2),
        "warmup_s": args.warmup,
        "warmup_orders": len(warmed),
        "consumers_per_service": args.consumers,
        "web_workers_per_service": args.web_workers,
        "orders_placed": len(orders),
        "sagas_completed": len(rows),
        "sagas_per_s": round(in_window / load_seconds, 2),
        "e2e_p50_ms": round(percentile(e2e, 0.5), 1),
        "e2e_p95_ms": round(percentile(e2e, 0.95), 1),
        "e2e_p99_ms": round(percentile(e2e, 0.99), 1),
        "http_p50_ms": round(percentile(http_ms, 0.5), 1),
        "http_p99_ms": round(percentile(http_ms, 0.99), 1),
        "max_outbox_backlog": max((n for _, n in sampler.backlog), default=0),
        "cpu_seconds": {group: round(seconds, 1) for group, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])},
        "cpu_seconds_by_process": {
            name: round(seconds, 2) for name, seconds in sorted(by_process.items(), key=lambda kv: -kv[1]) if seconds
        },
        "cpu_ms_per_saga": round(1000 * sum(cpu.values()) / max(1, len(rows)), 1),
        "machine_busy_pct": round(100 * busy / total, 1),
        "peak_rss_mb": {g: round(rss / 2**20) for g, rss in sampler.peak_rss.items()},
        "pgbench_tps": round(tps, 1),
        "db_transactions_per_saga": round(per_saga, 1),
        "kafka_rtt_p50_ms": round(statistics.median(rtt), 2),
        "hops": HOPS,
    }
    result["ratio_throughput"] = round(result["sagas_per_s"] / (tps / per_saga), 3) if per_saga else None
    result["ratio_latency"] = round(result["e2e_p50_ms"] / (HOPS * result["kafka_rtt_p50_ms"]), 2)
    result["books_balanced"] = not problems
    (OUT / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(OUT / "result.png", completions, latencies, started)

    say("result (var/bench/result.json, var/bench/result.png):")
    for key, value in result.items():
        print(f"  {key:28} {value}")
    if len(rows) != len(orders) or problems:
        say(f"FAILED: {len(orders) - len(rows)} orders did not complete; {'; '.join(problems) or 'books balanced'}")
        return 1
    say(f"every one of {len(orders)} orders reached NotifyingSourceSystem; money and stock balance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
