"""The billing API: top-ups (with Idempotency-Key), the balance, and bad input."""

import uuid
from decimal import Decimal

import pytest

from billing.services import charge_order
from lotus.testing import api_client

pytestmark = pytest.mark.django_db(databases="__all__")


def test_add_money_answers_200_with_the_new_balance(assert_books):
    client = api_client(3)
    response = client.post("/billing/add-money?money=1000")
    assert response.status_code == 200, response.content
    assert response.json()["balance"] == 1000
    assert response.json()["deposited"] == 1000
    assert [line["kind"] for line in response.json()["ledger"]] == ["deposit"]
    assert client.post("/billing/add-money", {"money": "0.5"}, format="json").json()["balance"] == 1000.5
    balance = client.get("/billing/balance").json()
    assert balance["balance"] == 1000.5
    assert [line["kind"] for line in balance["ledger"]] == ["deposit", "deposit"]
    assert_books()


def test_a_top_up_pays_waiting_orders_and_answers_with_their_ledger_lines(in_uow, assert_books):
    order = uuid.uuid4()
    in_uow(charge_order, order_id=order, customer_id=3, amount=Decimal("300"))
    body = api_client(3).post("/billing/add-money?money=500").json()
    assert body["paidOrders"] == [str(order)]
    assert body["balance"] == 200
    assert [(line["kind"], float(line["amount"])) for line in body["ledger"]] == [("deposit", 500), ("charge", -300)]
    assert body["waitingCharges"] == []
    assert_books()


@pytest.mark.parametrize(
    "query", ["", "?money=", "?money=abc", "?money=-5", "?money=0", "?money=1000001", "?money=1e400", "?money=NaN",
              "?money=Infinity", "?money=1.001"],
)  # fmt: skip
def test_bad_amounts_are_400_and_change_nothing(query):
    client = api_client(3)
    response = client.post(f"/billing/add-money{query}")
    assert response.status_code == 400, response.content
    assert "money" in response.json()["error"]["details"]
    assert client.get("/billing/balance").json()["balance"] == 0


def test_malformed_json_is_400():
    response = api_client(3).post("/billing/add-money", data="{oops", content_type="application/json")
    assert response.status_code == 400


def test_no_token_is_401():
    assert api_client().post("/billing/add-money?money=10").status_code == 401
    assert api_client().get("/billing/balance").status_code == 401


def test_a_double_submitted_top_up_with_one_idempotency_key_counts_once(assert_books):
    client = api_client(3)
    first = client.post("/billing/add-money?money=500", HTTP_IDEMPOTENCY_KEY="top-up-1")
    second = client.post("/billing/add-money?money=500", HTTP_IDEMPOTENCY_KEY="top-up-1")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert client.get("/billing/balance").json()["balance"] == 500
    assert client.post("/billing/add-money?money=999", HTTP_IDEMPOTENCY_KEY="top-up-1").status_code == 422
    assert_books()
