"""End to end: HTTP → web → outbox → relay → Kafka → consumers → HTTP, on a running stack."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from lotus.testing import wait_for

pytestmark = pytest.mark.e2e


def order_of(api, order_id):
    response = api.call("GET", f"/order/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


def events_of(api, order_id):
    response = api.call("GET", "/notification")
    assert response.status_code == 200, response.text
    return [n["event"] for n in response.json() if n["orderId"] == order_id]


def assert_books_balance(stack):
    unbalanced = stack.sql(
        "billing",
        "SELECT a.customer_id, a.balance, COALESCE(SUM(e.amount), 0) FROM billing_account a "
        "LEFT JOIN billing_ledgerentry e ON e.account_id = a.id "
        "GROUP BY a.id HAVING a.balance <> COALESCE(SUM(e.amount), 0)",
    )
    assert unbalanced == [], f"ledgers that do not sum to their balance: {unbalanced}"
    negative = stack.sql("billing", "SELECT customer_id FROM billing_account WHERE balance < 0")
    assert negative == []
    stock = stack.sql(
        "stock", "SELECT product_id FROM stock_stockitem WHERE on_hand + reserved <> received OR on_hand < 0"
    )
    assert stock == [], f"stock rows that do not balance: {stock}"


def test_an_unobstructed_order_completes_notifies_and_balances(stack):
    api = stack.customer(money=1000)
    placed = api.call("POST", "/order/place?idSubscription=1")
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]

    order = wait_for(
        lambda: (o := order_of(api, order_id))["status"] == "NotifyingSourceSystem" and o,
        timeout=30,
        message="the order in delivery",
    )
    assert [step["to"] for step in order["history"]] == [
        "ValidatingBilling",
        "ValidatingStock",
        "ValidatingDelivery",
        "NotifyingSourceSystem",
    ]
    times = [step["at"] for step in order["history"]]
    assert times == sorted(times)
    wait_for(lambda: events_of(api, order_id)[-1:] == ["order_in_delivery"], timeout=30, message="the notification")
    assert events_of(api, order_id) == ["order_paid", "order_reserved", "order_in_delivery"]
    assert Decimal(str(api.call("GET", "/billing/balance").json()["balance"])) == Decimal("700")
    assert_books_balance(stack)


def test_50_customers_order_product_1_at_once_with_20_on_hand(stack):
    stack.sql("stock", "UPDATE stock_stockitem SET on_hand = 20, received = reserved + 20 WHERE product_id = 1")
    with ThreadPoolExecutor(max_workers=10) as pool:
        customers = list(pool.map(lambda _: stack.customer(money=1000), range(50)))
    with ThreadPoolExecutor(max_workers=50) as pool:
        placed = list(pool.map(lambda api: api.call("POST", "/order/place?idSubscription=1"), customers))
    assert [response.status_code for response in placed] == [202] * 50
    orders = [(api, response.json()["orderId"]) for api, response in zip(customers, placed, strict=True)]

    def settled():
        statuses = [order_of(api, order_id)["status"] for api, order_id in orders]
        done = statuses.count("NotifyingSourceSystem")
        return done == 20 and statuses.count("ValidatingStock") == 30 and statuses

    wait_for(settled, timeout=90, interval=0.5, message="20 orders in delivery and 30 waiting for stock")
    ids = tuple(order_id for _, order_id in orders)
    waiting = stack.sql(
        "stock",
        "SELECT count(*) FROM stock_reservation WHERE status = 'waiting' AND order_id::text = ANY(%s)",
        (list(ids),),
    )
    assert waiting == [(30,)]
    assert stack.sql("stock", "SELECT on_hand FROM stock_stockitem WHERE product_id = 1") == [(0,)]
    for api, order_id in orders:
        balance = Decimal(str(api.call("GET", "/billing/balance").json()["balance"]))
        assert balance == Decimal("700"), f"customer of order {order_id} has {balance}"
    assert_books_balance(stack)
