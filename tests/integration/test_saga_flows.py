"""The saga across all six services, deterministic: real handlers, inboxes, outboxes and
databases, messages carried by :class:`SagaHarness` (see its docstring). SPEC.md scenarios,
cancellation in every cancellable state, and the races of a cancel, each replayed by holding
one message back. The books balance after every test."""

from decimal import Decimal

import pytest

from lotus.testing import api_client
from stock.models import StockItem
from tests.integration.books import assert_books_balance
from tests.integration.harness import of_type

pytestmark = pytest.mark.django_db(databases="__all__")

CUSTOMER = 41
operator = api_client(1, is_staff=True)


@pytest.fixture
def customer():
    return api_client(CUSTOMER)


@pytest.fixture(autouse=True)
def books_balance_after_each_test():
    yield
    assert_books_balance()


def add_money(customer, amount, saga, **run):
    response = customer.post(f"/billing/add-money?money={amount}")
    assert response.status_code == 200, response.content
    saga.run(**run)
    return response


def place(customer, product, saga, **run) -> str:
    response = customer.post(f"/order/place?idSubscription={product}")
    assert response.status_code == 202, response.content
    saga.run(**run)
    return response.json()["orderId"]


def status(customer, order_id) -> str:
    return customer.get(f"/order/{order_id}").json()["status"]


def events(customer, order_id) -> list[str]:
    return [n["event"] for n in customer.get("/notification").json() if n["orderId"] == order_id]


def balance(customer) -> Decimal:
    return Decimal(str(customer.get("/billing/balance").json()["balance"]))


def on_hand(product) -> int:
    return StockItem.objects.get(product_id=product).on_hand


def test_scenario_1_unobstructed(saga, customer):
    add_money(customer, 1000, saga)
    order_id = place(customer, 1, saga)
    assert status(customer, order_id) == "NotifyingSourceSystem"
    assert events(customer, order_id) == ["order_paid", "order_reserved", "order_in_delivery"]
    assert balance(customer) == 700
    assert on_hand(1) == 999


def test_scenario_2_out_of_stock(saga, customer):
    add_money(customer, 1000, saga)
    order_id = place(customer, 2, saga)
    assert status(customer, order_id) == "ValidatingStock"
    assert events(customer, order_id)[-1] == "order_paid"
    assert operator.get("/stock/add?idSubscription=2&count=1").status_code == 200
    saga.run()
    assert status(customer, order_id) == "NotifyingSourceSystem"
    assert events(customer, order_id)[-1] == "order_in_delivery"


def test_scenario_3_no_money_no_stock_delivery_must_accept(saga, customer):
    order_id = place(customer, 3, saga)
    assert status(customer, order_id) == "ValidatingBilling"
    assert events(customer, order_id) == ["payment_failed"]
    add_money(customer, 1500, saga)
    assert events(customer, order_id)[-1] == "order_paid"
    assert balance(customer) == 300
    assert operator.get("/stock/add?idSubscription=3&count=1").status_code == 200
    saga.run()
    assert status(customer, order_id) == "ValidatingDelivery"
    assert events(customer, order_id)[-1] == "order_reserved"
    assert operator.put(f"/delivery/accept?idOrder={order_id}").status_code == 200
    saga.run()
    assert status(customer, order_id) == "NotifyingSourceSystem"
    assert events(customer, order_id) == ["payment_failed", "order_paid", "order_reserved", "order_in_delivery"]


def test_scenario_4_cancel_a_paid_order_waiting_for_stock(saga, customer):
    add_money(customer, 1000, saga)
    order_id = place(customer, 2, saga)
    assert balance(customer) == 300
    assert customer.post(f"/order/{order_id}/cancel").status_code == 202
    saga.run()
    assert status(customer, order_id) == "Cancelled"
    assert events(customer, order_id)[-1] == "order_cancelled"
    assert balance(customer) == 1000


def test_cancel_while_waiting_for_money_drops_the_waiting_charge(saga, customer):
    order_id = place(customer, 1, saga)
    assert customer.post(f"/order/{order_id}/cancel").status_code == 202
    saga.run()
    assert status(customer, order_id) == "Cancelled"
    add_money(customer, 1000, saga)
    assert balance(customer) == 1000, "a dropped charge must not be taken by a later top-up"
    assert events(customer, order_id) == ["payment_failed", "order_cancelled"]


def test_cancel_while_waiting_for_delivery_releases_stock_and_refunds(saga, customer):
    add_money(customer, 2000, saga)
    operator.get("/stock/add?idSubscription=3&count=1")
    order_id = place(customer, 3, saga)
    assert status(customer, order_id) == "ValidatingDelivery"
    assert customer.post(f"/order/{order_id}/cancel").status_code == 202
    saga.run()
    assert status(customer, order_id) == "Cancelled"
    assert balance(customer) == 2000
    assert on_hand(3) == 1
    assert operator.put(f"/delivery/accept?idOrder={order_id}").status_code == 409


def test_race_stock_reserved_just_as_the_customer_cancels(saga, customer):
    add_money(customer, 1000, saga)
    order_id = place(customer, 1, saga, hold=of_type("StockReserved"))
    assert status(customer, order_id) == "ValidatingStock"
    assert on_hand(1) == 999  # reserved in the warehouse; orders has not heard yet
    assert customer.post(f"/order/{order_id}/cancel").status_code == 202
    saga.release()
    assert status(customer, order_id) == "Cancelled"
    assert on_hand(1) == 1000
    assert balance(customer) == 1000


def test_race_a_top_up_pays_the_order_while_it_is_cancelling(saga, customer):
    order_id = place(customer, 1, saga)
    assert customer.post(f"/order/{order_id}/cancel").status_code == 202
    saga.run(hold=of_type("RefundOrder"))
    add_money(customer, 500, saga, hold=of_type("RefundOrder"))  # pays the still-waiting charge
    assert balance(customer) == 200
    saga.release()
    assert status(customer, order_id) == "Cancelled"
    assert balance(customer) == 500
    assert "order_in_delivery" not in events(customer, order_id)


def test_race_delivery_accepts_during_the_cancel(saga, customer):
    add_money(customer, 2000, saga)
    operator.get("/stock/add?idSubscription=3&count=1")
    order_id = place(customer, 3, saga)
    assert customer.post(f"/order/{order_id}/cancel").status_code == 202
    saga.run(hold=of_type("ReleaseCourier"))
    assert operator.put(f"/delivery/accept?idOrder={order_id}").status_code == 200
    saga.run(hold=of_type("ReleaseCourier"))
    saga.release()
    assert status(customer, order_id) == "Cancelled"
    assert balance(customer) == 2000
    assert on_hand(3) == 1
