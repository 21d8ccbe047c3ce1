"""The chaos suite's invariant arithmetic on hand-made worlds: a healthy one passes every check,
and each kind of damage is caught by the check meant for it (and reported, not swallowed)."""

from decimal import Decimal

from tests.chaos import invariants
from tests.chaos.invariants import Order, World

PAID, CANCELLED = "NotifyingSourceSystem", "Cancelled"


def healthy() -> World:
    """Customer 7 topped up 1000: order a delivered (300), order b cancelled after payment."""
    return World(
        accepted={"a": 7, "b": 7},
        keys={(7, "k1"): "a", (7, "k2"): "b"},
        retried={(7, "k1")},
        topups={7: Decimal(1000)},
        api_orders={7: [{"orderId": "a", "status": PAID}, {"orderId": "b", "status": CANCELLED}]},
        api_balances={7: Decimal(700)},
        orders={"a": Order(7, 1, Decimal(300), PAID), "b": Order(7, 2, Decimal(700), CANCELLED)},
        reached={
            "a": {"ValidatingBilling", "ValidatingStock", "ValidatingDelivery", PAID},
            "b": {"ValidatingBilling", "ValidatingStock", "Cancelling", CANCELLED},
        },
        key_orders={(7, "k1"): "a", (7, "k2"): "b"},
        balances={7: Decimal(700)},
        ledger=[
            (7, "deposit", Decimal(1000), None),
            (7, "charge", Decimal(-300), "a"),
            (7, "charge", Decimal(-700), "b"),
            (7, "refund", Decimal(700), "b"),
        ],
        stock=[(1, 99, 1, 100), (2, 0, 0, 0)],
        reservations=[("a", 1, 1, "reserved"), ("b", 2, 1, "withdrawn")],
        capacities={1: 5},
        bookings=[(1, "2030-01-01 10:00", 1)],
        deliveries=[("a", "reserved", 1, "2030-01-01 10:00")],
        notifications=[
            ("a", "order_paid"),
            ("a", "order_reserved"),
            ("a", "order_in_delivery"),
            ("b", "payment_failed"),
            ("b", "order_paid"),
            ("b", "order_cancelled"),
        ],
        payment_failed={"b"},
        unsent={"orders": 0},
        dead_letters={"orders": 0},
    )


def failing(world: World) -> set[str]:
    return {check.__name__ for _, check in invariants.CHECKS if check(world)}


def test_a_healthy_world_passes_every_check():
    passed, failed, lines = invariants.run_checks(healthy())
    assert (passed, failed) == (len(invariants.CHECKS), 0), lines


def test_a_doubled_charge_breaks_the_books_and_the_balances():
    world = healthy()
    world.ledger.append((7, "charge", Decimal(-300), "a"))
    world.balances[7] -= 300
    world.api_balances[7] -= 300
    assert failing(world) == {"no_order_charged_twice", "balances_via_api", "balances_in_billing"}


def test_a_lost_top_up_is_seen_by_the_ledger_check():
    world = healthy()
    world.topups[7] += 500  # confirmed to the customer, never deposited
    assert "ledgers_sum_to_balances" in failing(world)
    assert "balances_in_billing" in failing(world)


def test_an_order_stuck_cancelling_and_a_second_order_for_one_key():
    world = healthy()
    world.orders["b"] = Order(7, 2, Decimal(700), "Cancelling")
    world.orders["c"] = Order(7, 1, Decimal(300), CANCELLED)
    world.key_orders[(7, "k1-again")] = "a"
    found = failing(world)
    assert {"orders_exist_once_and_terminal", "one_order_per_key"} <= found


def test_a_payment_failed_notification_without_its_event_is_caught():
    world = healthy()
    world.payment_failed.discard("b")
    assert failing(world) == {"notifications_once_each"}


def test_stock_courier_and_notification_damage():
    world = healthy()
    world.stock[0] = (1, 98, 1, 100)  # one item vanished
    world.bookings[0] = (1, "2030-01-01 10:00", 2)  # a slot booked twice for one request
    world.notifications.append(("a", "order_paid"))
    world.notifications.remove(("b", "order_cancelled"))
    world.payment_failed.add("b")  # told to the orders' outbox, never notified
    assert {"stock_balances", "courier_slots_balance", "notifications_once_each"} <= failing(world)


def test_leftovers_and_exits_are_reported_with_details():
    world = healthy()
    world.unsent["billing"] = 2
    world.dead_letters["stock"] = 1
    world.unexpected_exits = ["relay-billing exited with 0 at 02:58:16: OperationalError"]
    _, failed, lines = invariants.run_checks(world)
    assert failed == 3
    assert any("relay-billing exited with 0" in line for line in lines)
    assert any("billing: 2 unsent outbox rows" in line for line in lines)


def test_disagreements_of_reconcile_fail_their_check_with_each_line():
    world = healthy()
    world.reconciliation = [
        "charge: order 0b7e charge 3: order is Cancelled; charge is paid, expected dropped or refunded"
    ]
    assert failing(world) == {"services_reconcile"}
    _, _, lines = invariants.run_checks(world)
    assert any("order 0b7e charge 3: order is Cancelled" in line for line in lines)
