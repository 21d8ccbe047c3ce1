"""Read the :class:`~tests.chaos.invariants.World` after the run: the customers' own view through
the API, and each service's database with plain SQL (not the Django models, so that the check
does not share a bug with the code it checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg

from tests.chaos.customers import Book, Client
from tests.chaos.invariants import Order, World

SERVICES = ("profiles", "billing", "orders", "stock", "delivery", "notifications")


def database(base_url: str, service: str) -> str:
    return f"{base_url}_{service}"


def sql(base_url: str, service: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(database(base_url, service), autocommit=True, connect_timeout=10) as conn:
        return conn.execute(query, params).fetchall()


def unsettled(base_url: str) -> tuple[list[tuple[str, str]], int]:
    """(orders not terminal with their states, unsent outbox rows in every database): what the heal waits on."""
    waiting = sql(
        base_url,
        "orders",
        "SELECT id::text, status FROM orders_order WHERE status NOT IN ('NotifyingSourceSystem', 'Cancelled')",
    )
    unsent = sum(
        sql(base_url, s, "SELECT count(*) FROM messaging_outboxmessage WHERE sent_at IS NULL")[0][0] for s in SERVICES
    )
    return waiting, unsent


def observe(base_url: str, book: Book, clients: list[Client], unexpected_exits: list[str]) -> World:
    world = World(
        accepted=dict(book.accepted),
        keys=dict(book.keys),
        retried=set(book.retried),
        topups=dict(book.topups),
        unexpected_exits=unexpected_exits,
    )
    for client in clients:
        world.api_orders[client.customer_id] = client.every("/order")
        world.api_balances[client.customer_id] = Decimal(
            str(client.call("GET", "/billing/balance", attempts=20).json()["balance"])
        )

    for order_id, customer, product, price, status in sql(
        base_url, "orders", "SELECT id::text, customer_id, product_id, price, status FROM orders_order"
    ):
        world.orders[order_id] = Order(customer, product, price, status)
    for order_id, target in sql(base_url, "orders", "SELECT order_id::text, target FROM orders_ordertransition"):
        world.reached.setdefault(order_id, set()).add(target)
    for customer, key, order_id in sql(
        base_url,
        "orders",
        "SELECT customer_id, key, body->>'orderId' FROM idempotency_idempotencyrecord WHERE status_code = 202",
    ):
        world.key_orders[(customer, key)] = order_id

    # Sent outbox rows stay for LOTUS_OUTBOX_RETENTION_HOURS (24 h): every OrderPaymentFailed is there.
    world.payment_failed = {
        key
        for (key,) in sql(
            base_url,
            "orders",
            "SELECT DISTINCT key FROM messaging_outboxmessage WHERE message_type LIKE %s",
            ("%OrderPaymentFailed",),
        )
    }
    world.balances = dict(sql(base_url, "billing", "SELECT customer_id, balance FROM billing_account"))
    world.ledger = sql(
        base_url,
        "billing",
        "SELECT a.customer_id, e.kind, e.amount, e.order_id::text FROM billing_ledgerentry e "
        "JOIN billing_account a ON a.id = e.account_id",
    )
    world.stock = sql(base_url, "stock", "SELECT product_id, on_hand, reserved, received FROM stock_stockitem")
    world.reservations = sql(
        base_url, "stock", "SELECT order_id::text, product_id, quantity, status FROM stock_reservation"
    )
    world.capacities = dict(sql(base_url, "delivery", "SELECT id, capacity_per_slot FROM delivery_courier"))
    world.bookings = sql(base_url, "delivery", "SELECT courier_id, slot::text, booked FROM delivery_slotbooking")
    world.deliveries = sql(
        base_url, "delivery", "SELECT order_id::text, status, courier_id, slot::text FROM delivery_deliveryrequest"
    )
    world.notifications = sql(base_url, "notifications", "SELECT order_id::text, event FROM notifications_notification")
    for service in SERVICES:
        world.unsent[service] = sql(
            base_url, service, "SELECT count(*) FROM messaging_outboxmessage WHERE sent_at IS NULL"
        )[0][0]
        world.dead_letters[service] = sql(
            base_url, service, "SELECT count(*) FROM messaging_deadletter WHERE replayed_at IS NULL"
        )[0][0]
    return world


def reconciliation(env: dict[str, str], root: Path) -> list[str]:
    """``manage.py reconcile`` against the suite's databases (``env``: the stack's environment,
    so that it judges deadlines as the suite's deadline checker does): one line per disagreement."""
    result = subprocess.run(
        [sys.executable, "manage.py", "reconcile", "--json", "--grace", "0"],
        cwd=root,
        env={**env, "DJANGO_SETTINGS_MODULE": "lotus.settings"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode not in (0, 1):
        return [f"reconcile failed with status {result.returncode}: {result.stderr.strip()[-500:]}"]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    judged = ", ".join(f"{count} {what.replace('_', ' ')}" for what, count in report["judged"].items())
    print(f"reconcile: {report['total']} disagreement(s); judged {judged}", flush=True)
    return [disagreement["line"] for disagreement in report["disagreements"]]
