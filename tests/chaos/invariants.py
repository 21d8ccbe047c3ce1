"""What must hold after every fault was healed, checked on a :class:`World` read once through the
API and with SQL on every service database.

The checks are pure functions of the world (a list of problems, empty when it holds), so that
their arithmetic is tested on hand-made data (``test_invariants.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from reconciliation import arithmetic

TERMINAL = {"NotifyingSourceSystem", "Cancelled"}
DELIVERED = "NotifyingSourceSystem"
CANCELLED = "Cancelled"

#: The notification each reached state must have produced (SPEC, "Notifications").
EVENT_OF_STATE = {
    "ValidatingStock": "order_paid",
    "ValidatingDelivery": "order_reserved",
    "NotifyingSourceSystem": "order_in_delivery",
    "Cancelled": "order_cancelled",
}
#: Optional by the SPEC: allowed at most once, never required.
OPTIONAL_EVENTS = {"order_created"}


@dataclass(frozen=True)
class Order:
    customer: int
    product: int
    price: Decimal
    status: str


@dataclass
class World:
    # What the customers were told.
    accepted: dict[str, int] = field(default_factory=dict)  # order id -> customer
    keys: dict[tuple[int, str], str | None] = field(default_factory=dict)
    retried: set[tuple[int, str]] = field(default_factory=set)
    topups: dict[int, Decimal] = field(default_factory=dict)
    api_orders: dict[int, list[dict]] = field(default_factory=dict)  # customer -> GET /order
    api_balances: dict[int, Decimal] = field(default_factory=dict)
    # orders database
    orders: dict[str, Order] = field(default_factory=dict)
    reached: dict[str, set[str]] = field(default_factory=dict)  # order id -> every state it entered
    key_orders: dict[tuple[int, str], str] = field(default_factory=dict)  # idempotency records (202)
    payment_failed: set[str] = field(default_factory=set)  # orders whose outbox held OrderPaymentFailed
    # billing database
    balances: dict[int, Decimal] = field(default_factory=dict)
    ledger: list[tuple[int, str, Decimal, str | None]] = field(default_factory=list)  # customer, kind, amount, order
    # stock database
    stock: list[tuple[int, int, int, int]] = field(default_factory=list)  # product, on_hand, reserved, received
    reservations: list[tuple[str, int | None, int, str]] = field(default_factory=list)  # order, product, qty, status
    # delivery database
    capacities: dict[int, int] = field(default_factory=dict)
    bookings: list[tuple[int, str, int]] = field(default_factory=list)  # courier, slot, booked
    deliveries: list[tuple[str, str, int | None, str | None]] = field(
        default_factory=list
    )  # order, status, courier, slot
    # notifications database
    notifications: list[tuple[str, str]] = field(default_factory=list)  # order, event
    # every database
    unsent: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    # the supervisor
    unexpected_exits: list[str] = field(default_factory=list)
    # `manage.py reconcile` against the suite's databases: one line per disagreement
    reconciliation: list[str] = field(default_factory=list)
    # the three-broker variant: {topic: (replicas of each partition, min.insync.replicas)} read
    # back from the cluster, what they must be, and the acknowledged probe records not read back
    replication: dict[str, tuple[list[int], str]] = field(default_factory=dict)
    expected_replication: tuple[int, int] = (1, 1)  # replication factor, min.insync.replicas
    lost_probe_records: list[str] = field(default_factory=list)


def _first(problems: list[str], limit: int = 5) -> list[str]:
    return problems if len(problems) <= limit else [*problems[:limit], f"... and {len(problems) - limit} more"]


def orders_exist_once_and_terminal(world: World) -> list[str]:
    problems = []
    listed = Counter(order["orderId"] for orders in world.api_orders.values() for order in orders)
    api_status = {order["orderId"]: order["status"] for orders in world.api_orders.values() for order in orders}
    for order_id, customer in world.accepted.items():
        if order_id not in world.orders:
            problems.append(f"accepted order {order_id} is not in the orders database")
        elif world.orders[order_id].customer != customer:
            problems.append(f"order {order_id} belongs to {world.orders[order_id].customer}, not {customer}")
        if listed[order_id] != 1:
            problems.append(f"accepted order {order_id} is listed {listed[order_id]} times by GET /order")
        elif api_status[order_id] not in TERMINAL:
            problems.append(f"order {order_id} is {api_status[order_id]} (API)")
    for order_id, order in world.orders.items():
        if order.status not in TERMINAL:
            problems.append(f"order {order_id} is {order.status} (database)")
    return problems


def one_order_per_key(world: World) -> list[str]:
    problems = []
    for key, order_id in world.keys.items():
        recorded = world.key_orders.get(key)
        if order_id is not None and recorded != order_id:
            problems.append(f"key {key[1]} answered {order_id} but its record holds {recorded}")
    per_order = Counter(world.key_orders.values())
    for order_id in world.orders:
        if per_order[order_id] != 1:
            problems.append(f"order {order_id} is the answer of {per_order[order_id]} keys")
    mine = {customer for customer, _ in world.keys}
    for order_id, order in world.orders.items():
        if order.customer in mine and order_id not in per_order:
            problems.append(f"order {order_id} was made without a key")
    return problems


def _expected_balances(world: World) -> dict[int, Decimal]:
    delivered: dict[int, Decimal] = defaultdict(Decimal)
    for order in world.orders.values():
        if order.status == DELIVERED:
            delivered[order.customer] += order.price
    customers = set(world.topups) | {customer for customer, _ in world.keys}
    return {customer: world.topups.get(customer, Decimal(0)) - delivered[customer] for customer in customers}


def balances_via_api(world: World) -> list[str]:
    return [
        f"customer {customer}: API balance {world.api_balances.get(customer)}, expected {expected}"
        for customer, expected in sorted(_expected_balances(world).items())
        if world.api_balances.get(customer, Decimal(0)) != expected
    ]


def balances_in_billing(world: World) -> list[str]:
    return [
        f"customer {customer}: account balance {world.balances.get(customer)}, expected {expected}"
        for customer, expected in sorted(_expected_balances(world).items())
        if world.balances.get(customer, Decimal(0)) != expected
    ]


def ledgers_sum_to_balances(world: World) -> list[str]:
    sums: dict[int, Decimal] = defaultdict(Decimal)
    deposits: dict[int, Decimal] = defaultdict(Decimal)
    for customer, kind, amount, _ in world.ledger:
        sums[customer] += amount
        if kind == "deposit":
            deposits[customer] += amount
    problems = [
        f"customer {customer}: {problem}"
        for customer, balance in sorted(world.balances.items())
        for problem in arithmetic.ledger_problems(balance, sums[customer])
    ]
    problems += [
        f"customer {customer}: deposits {deposits[customer]}, confirmed top-ups {amount}"
        for customer, amount in sorted(world.topups.items())
        if deposits[customer] != amount
    ]
    return problems


def no_order_charged_twice(world: World) -> list[str]:
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    net: dict[str, Decimal] = defaultdict(Decimal)
    for _, kind, amount, order_id in world.ledger:
        if order_id is not None:
            kinds[order_id][kind] += 1
            net[order_id] += amount
    problems = []
    for order_id, counts in kinds.items():
        if counts["charge"] > 1 or counts["refund"] > 1 or counts["refund"] > counts["charge"]:
            problems.append(f"order {order_id}: {dict(counts)}")
    for order_id, order in world.orders.items():
        expected = -order.price if order.status == DELIVERED else Decimal(0)
        if order.status in TERMINAL and net[order_id] != expected:
            problems.append(
                f"order {order_id} ({order.status}) nets {net[order_id]} in the ledger, expected {expected}"
            )
    return problems


def stock_balances(world: World) -> list[str]:
    held = [(product, quantity, status) for _, product, quantity, status in world.reservations]
    problems = [f"{row}: {problem}" for row, problem in arithmetic.stock_problems(world.stock, held)]
    holding = {order_id for order_id, _, _, status in world.reservations if status == "reserved"}
    for order_id, order in world.orders.items():
        if (order.status == DELIVERED) != (order_id in holding):
            problems.append(
                f"order {order_id} ({order.status}) {'holds' if order_id in holding else 'lacks'} a reservation"
            )
    return problems


def courier_slots_balance(world: World) -> list[str]:
    held = [(courier, slot, status) for _, status, courier, slot in world.deliveries]
    problems = [
        f"{row}: {problem}" for row, problem in arithmetic.slot_problems(world.bookings, held, world.capacities)
    ]
    holding = {order_id for order_id, status, _, _ in world.deliveries if status == "reserved"}
    for order_id, order in world.orders.items():
        if (order.status == DELIVERED) != (order_id in holding):
            problems.append(
                f"order {order_id} ({order.status}) {'holds' if order_id in holding else 'lacks'} a courier"
            )
    return problems


def notifications_once_each(world: World) -> list[str]:
    counts = Counter(world.notifications)
    problems = [f"order {order}: {count} x {event}" for (order, event), count in counts.items() if count > 1]
    orders = set(world.reached) | {order for order, _ in counts}
    for order_id in sorted(orders):
        expected = {EVENT_OF_STATE[state] for state in world.reached.get(order_id, ()) if state in EVENT_OF_STATE}
        if order_id in world.payment_failed:
            expected.add("payment_failed")
        problems += [f"order {order_id}: no {event}" for event in sorted(expected) if not counts[(order_id, event)]]
        problems += [
            f"order {order_id}: {event} without its cause"
            for (order, event) in counts
            if order == order_id and event not in expected | OPTIONAL_EVENTS
        ]
    return problems


def outboxes_drained(world: World) -> list[str]:
    return [f"{service}: {count} unsent outbox rows" for service, count in sorted(world.unsent.items()) if count]


def no_dead_letters(world: World) -> list[str]:
    return [f"{service}: {count} dead letters" for service, count in sorted(world.dead_letters.items()) if count]


def no_unexpected_exits(world: World) -> list[str]:
    return list(world.unexpected_exits)


def services_reconcile(world: World) -> list[str]:
    return list(world.reconciliation)


CHECKS: list[tuple[str, Callable[[World], list[str]]]] = [
    ("every accepted order exists once and is terminal", orders_exist_once_and_terminal),
    ("one order per Idempotency-Key (retried placements made one order)", one_order_per_key),
    ("balance = top-ups - delivered orders, via the API", balances_via_api),
    ("balance = top-ups - delivered orders, in the billing database", balances_in_billing),
    ("every ledger sums to its balance; deposits = confirmed top-ups", ledgers_sum_to_balances),
    ("no order charged twice; delivered orders paid once, cancelled ones refunded", no_order_charged_twice),
    ("stock balances: received = on hand + reserved = reservations held", stock_balances),
    ("courier slots balance: booked = requests holding them, within capacity", courier_slots_balance),
    ("one notification per (order, event), every expected one present", notifications_once_each),
    ("every service's outbox drained", outboxes_drained),
    ("no dead letters", no_dead_letters),
    ("no process exited without being killed", no_unexpected_exits),
    ("manage.py reconcile: the services agree about every saga (0 disagreements)", services_reconcile),
]


def topics_replicated(world: World) -> list[str]:
    factor, min_insync = world.expected_replication
    if not world.replication:
        return ["no topic of the run was found on the cluster"]
    problems = []
    for topic, (replicas, configured) in sorted(world.replication.items()):
        short = sorted({count for count in replicas if count != factor})
        if short:
            problems.append(f"{topic}: partitions with {short} replicas, not {factor}")
        if configured != str(min_insync):
            problems.append(f"{topic}: min.insync.replicas={configured}, not {min_insync}")
    return problems


def nothing_acknowledged_lost(world: World) -> list[str]:
    return list(world.lost_probe_records)


#: Checked on the three-broker cluster besides every check of CHECKS.
CLUSTER_CHECKS: list[tuple[str, Callable[[World], list[str]]]] = [
    ("every topic has replication factor 3 and min.insync.replicas 2 (read back)", topics_replicated),
    ("nothing acknowledged is lost: every acknowledged probe record is in its topic", nothing_acknowledged_lost),
]


def run_checks(world: World, checks: list | None = None) -> tuple[int, int, list[str]]:
    """(passed, failed, printed lines) of ``checks`` (CHECKS by default)."""
    passed = failed = 0
    lines = []
    for title, check in CHECKS if checks is None else checks:
        problems = check(world)
        if problems:
            failed += 1
            lines.append(f"FAIL {title}: {len(problems)} problem(s)")
            lines += [f"       {problem}" for problem in _first(problems)]
        else:
            passed += 1
            lines.append(f"PASS {title}")
    return passed, failed, lines
