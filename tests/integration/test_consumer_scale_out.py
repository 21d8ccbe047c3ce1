"""Integration: two consumer processes of one service split its partitions, and when one stops
(cleanly, or killed) the other takes them all over and applies the rest, nothing twice
(issue 16, item 4; real PostgreSQL and Kafka).

Why processes: what scales out in production is ``manage.py consume --service billing`` run
several times (the Procfile's ``consume-billing``, a Deployment's replicas), each a member of
the service's consumer group. Two of them, started as the Procfile starts them, are the proof;
threads of the test process would share one database pool and one metrics registry.

What is observed, and where:

* the split and the takeover: from Kafka itself, the group's members and their assignments
  (``describe_consumer_groups``). Billing reads three topics of ``LOTUS_KAFKA_PARTITIONS`` (3)
  partitions: nine in all, split between the members, and each member holds some of
  ``billing.commands``, where the charges come (the round-robin assignor deals each topic out;
  the cooperative-sticky one it replaced often gave one member all three);
* that each process applied messages: each process's own ``/metrics``
  (``lotus_consumer_messages_total`` by outcome);
* the effect, once: billing's inbox (each message id once), one paid charge, one ledger entry
  and one ``PaymentTaken`` per order, the balances, and the books' invariants
  (:func:`tests.integration.books.assert_books_balance`).

The consumer that stops commits its offsets only when it closes (a commit interval longer than
the test), so a SIGKILL leaves every record it applied uncommitted: the survivor is certain to
receive them again, and the test shows its inbox dropping each of them (``duplicate``) while
no effect happens twice. After a SIGTERM it closes cleanly: the survivor gets nothing twice.
"""

from __future__ import annotations

import collections
import contextlib
import random
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupState
from prometheus_client.parser import text_string_to_metric_families

from billing import services as billing
from billing.models import Account, Charge, LedgerEntry
from lotus.bootstrap import handlers_for
from lotus.contracts.billing import ChargeOrder
from lotus.contracts.diagnostics import Ping
from lotus.contracts.profiles import UserRegistered
from lotus.messaging.kafka import consumer_group, make_admin, physical_topic
from lotus.messaging.models import InboxMessage, OutboxMessage
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import wait_for, worker_environment
from lotus.tests.support import relay_once
from lotus.topology import SERVICES
from tests.integration.books import assert_books_balance

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases="__all__", transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "billing"
DEPOSIT = Decimal("100.00")
PRICE = Decimal("1.50")


class ConsumerProcess:
    """``manage.py consume --service billing`` in a process of its own, with its metrics on a
    free port and its log in a file."""

    def __init__(self, name: str, **env: str) -> None:
        self.name = name
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"lotus-{name}-", suffix=".log")  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "consume", "--service", SERVICE],
            cwd=ROOT,
            env=worker_environment(*SERVICES) | {"LOTUS_METRICS_PORT": str(self.port)} | env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def outcomes(self) -> collections.Counter[str]:
        """How many records this process handled, by outcome (its own ``/metrics``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        counts: collections.Counter[str] = collections.Counter()
        for family in text_string_to_metric_families(text):
            if family.name != "lotus_consumer_messages":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["service"] == SERVICE:
                    counts[sample.labels["outcome"]] += int(sample.value)
        return counts

    def outcomes_once_up(self) -> collections.Counter[str]:
        def scraped():
            with contextlib.suppress(OSError):
                return self.outcomes() or collections.Counter({"none": 0})
            return None

        return wait_for(scraped, timeout=60, interval=0.2, message=f"{self.name}'s /metrics")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def close(self) -> None:
        self.stop()  # cleanly: the next test's consumers of the group must not get its records again
        self.log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def billing_partitions() -> set[tuple[str, int]]:
    """Every partition of every topic the billing consumers subscribe to."""
    topics = [physical_topic(name) for name in handlers_for(SERVICE).topics()]
    metadata = make_admin().list_topics(timeout=10).topics
    return {(topic, partition) for topic in topics for partition in metadata[topic].partitions}


def assignment() -> list[set[tuple[str, int]]] | None:
    """The partitions of each member of billing's consumer group, as Kafka sees them; None
    while the group is rebalancing."""
    admin = make_admin()  # kept until the answer comes: a client collected meanwhile never answers
    (future,) = admin.describe_consumer_groups([consumer_group(SERVICE)], request_timeout=10).values()
    description = future.result(timeout=15)
    if description.state != ConsumerGroupState.STABLE:
        return None
    return [{(tp.topic, tp.partition) for tp in member.assignment.topic_partitions} for member in description.members]


def split_between(members: int, every: set[tuple[str, int]]):
    """A condition: the group is stable with ``members`` members, each holding some partitions,
    some of them ``billing.commands``', none the same, all of them held."""

    def check():
        shares = assignment()
        if shares is None or len(shares) != members or not all(shares):
            return None
        held = [partition for share in shares for partition in share]
        if len(held) != len(set(held)) or set(held) != every:
            return None
        commands = physical_topic("billing.commands")
        if not all(any(topic == commands for topic, _ in share) for share in shares):
            return None  # a member without charges to apply has not scaled anything out
        return shares

    return check


def stream(customers: list[int], count: int) -> dict[str, list]:
    """Commit ``count`` charges (spread over ``customers``), a ping per four charges and a new
    customer per eight, as orders and profiles would; the relays publish them. Distinct keys
    spread them over every partition of the three topics billing reads."""
    orders = [uuid.uuid4() for _ in range(count)]
    newcomers = random.sample(range(10**9, 10**12), count // 8)
    with UnitOfWork("orders", publisher=None) as uow:
        charges = uow.send(
            *(
                ChargeOrder(order_id=order, customer_id=customers[index % len(customers)], amount=PRICE)
                for index, order in enumerate(orders)
            )
        )
        pings = uow.send(*(Ping(note=f"scale-out #{index}") for index in range(count // 4)))
    with UnitOfWork("profiles", publisher=None) as uow:
        registered = uow.send(
            *(UserRegistered(customer_id=customer, email=f"c{customer}@lotus.test") for customer in newcomers)
        )
    relay_once("orders")
    relay_once("profiles")
    return {"orders": orders, "newcomers": newcomers, "envelopes": [*charges, *pings, *registered]}


def applied(ids: list[uuid.UUID]) -> int:
    return InboxMessage.objects.using(SERVICE).filter(message_id__in=ids).count()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_two_consumers_of_a_service_split_its_partitions_and_one_takes_over_applying_nothing_twice(
    kafka_namespace, sig
):
    # Customers of this test alone: other tests' records may still be on the topics, uncommitted.
    customers = random.sample(range(10**9, 10**12), 4)
    for customer in customers:
        with UnitOfWork(SERVICE, publisher=None) as uow:
            billing.account_deposit(uow=uow, customer_id=customer, amount=DEPOSIT)
    every = billing_partitions()
    assert len(every) == 9, every  # three topics of three partitions (LOTUS_KAFKA_PARTITIONS)

    # The one that will stop commits offsets only when it closes (see the module docstring).
    first = ConsumerProcess("first", LOTUS_CONSUMER_COMMIT_INTERVAL_MS="3600000")
    second = None
    waves = []
    try:
        wait_for(split_between(1, every), timeout=60, interval=0.2, message="the first consumer holding all")
        second = ConsumerProcess("second")
        shares = wait_for(split_between(2, every), timeout=60, interval=0.2, message="the two consumers splitting")
        first.outcomes_once_up()
        before = second.outcomes_once_up()

        waves.append(stream(customers, 48))
        ids = [envelope.id for envelope in waves[0]["envelopes"]]
        wait_for(lambda: applied(ids) == len(ids), timeout=60, message="the first wave applied")
        # Both applied messages: each holds partitions, and every partition got records.
        by_first = first.outcomes()
        by_second = second.outcomes() - before
        assert by_first["applied"] > 0, (shares, by_first, by_second)
        assert by_second["applied"] > 0, (shares, by_first, by_second)
        assert by_first["applied"] + by_second["applied"] >= len(ids), (by_first, by_second)

        # Mid-stream: the first consumer goes once it is applying the second wave; a third
        # wave comes after it went.
        waves.append(stream(customers, 48))
        ids += [envelope.id for envelope in waves[1]["envelopes"]]
        wait_for(lambda: first.outcomes()["applied"] > by_first["applied"], timeout=60, message="the second wave begun")
        redelivered_before = second.outcomes()["duplicate"]
        by_first = first.outcomes()
        code = first.stop(sig)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), first.output()
        waves.append(stream(customers, 48))
        ids += [envelope.id for envelope in waves[2]["envelopes"]]

        wait_for(split_between(1, every), timeout=60, interval=0.2, message="the survivor holding every partition")
        wait_for(lambda: applied(ids) == len(ids), timeout=90, message="every message applied")
        assert second.process.poll() is None, second.output()
        redelivered = second.outcomes()["duplicate"] - redelivered_before
    finally:
        first.close()
        if second is not None:
            second.close()

    if sig == signal.SIGKILL:
        # Nothing the killed consumer applied was committed: all of it came again, and was dropped.
        assert redelivered >= by_first["applied"] > 0, (redelivered, by_first)
    else:
        assert redelivered == 0, "a consumer that stops cleanly commits what it applied"

    # Exactly once, in effect: each message in the inbox once (its primary key), none missing ...
    assert applied(ids) == len(ids) == len(set(ids))
    # ... one paid charge, one ledger entry and one PaymentTaken per order ...
    orders = [order for wave in waves for order in wave["orders"]]
    charges = Charge.objects.using(SERVICE).filter(order_id__in=orders)
    assert sorted(charges.values_list("status", flat=True)) == [Charge.Status.PAID] * len(orders)
    entries = LedgerEntry.objects.using(SERVICE).filter(kind=LedgerEntry.Kind.CHARGE, order_id__in=orders)
    assert dict(collections.Counter(entries.values_list("order_id", flat=True))) == dict.fromkeys(orders, 1)
    assert {entry.amount for entry in entries} == {-PRICE}
    taken = OutboxMessage.objects.using(SERVICE).filter(message_type="PaymentTaken", key__in=map(str, orders))
    assert dict(collections.Counter(taken.values_list("key", flat=True))) == dict.fromkeys(map(str, orders), 1)
    # ... each balance is the deposit less its orders, every new customer has an account ...
    for customer in customers:
        account = Account.objects.using(SERVICE).get(customer_id=customer)
        paid = entries.filter(account=account).count()
        assert paid == len(orders) // len(customers)
        assert account.balance == DEPOSIT - paid * PRICE, customer
    newcomers = [customer for wave in waves for customer in wave["newcomers"]]
    assert Account.objects.using(SERVICE).filter(customer_id__in=newcomers).count() == len(newcomers)
    # ... and the books balance.
    assert_books_balance()
