"""The stock API: the operator receiving goods (/stock/add) and the stock list."""

import uuid

import pytest

from lotus.testing import api_client
from stock.services import stock_reserve

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("seeded")]


def operator():
    return api_client(1, is_staff=True)


def test_the_operator_adds_stock_with_get_as_in_the_seed_and_waiting_orders_are_served(
    assert_stock_balances, status_of, in_uow
):
    order = uuid.uuid4()
    in_uow(stock_reserve, order_id=order, product_id=2)
    response = operator().get("/stock/add?idSubscription=2&count=3")
    assert response.status_code == 200, response.content
    assert response.json() == {"idSubscription": 2, "onHand": 2, "reserved": 1, "received": 3, "served": [str(order)]}
    assert status_of(order) == "reserved"
    assert_stock_balances()


def test_post_takes_the_query_string_or_a_json_body(counters):
    assert operator().post("/stock/add?idSubscription=3&count=2").status_code == 200
    response = operator().post("/stock/add", {"idSubscription": 3, "count": 5}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"idSubscription": 3, "onHand": 7, "reserved": 0, "received": 7, "served": []}
    assert counters(3) == (7, 0, 7)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?count=1", "idSubscription"),
        ("?idSubscription=2", "count"),
        ("?idSubscription=abc&count=1", "idSubscription"),
        ("?idSubscription=2&count=abc", "count"),
        ("?idSubscription=2&count=1.5", "count"),
        ("?idSubscription=2&count=0", "count"),
        ("?idSubscription=2&count=-3", "count"),
        ("?idSubscription=2&count=100001", "count"),
        ("?idSubscription=2&count=99999999999999999999999", "count"),
        ("?idSubscription=0&count=1", "idSubscription"),
        ("?idSubscription=-2&count=1", "idSubscription"),
        ("?idSubscription=99999999999999999999&count=1", "idSubscription"),
        ("?idSubscription=&count=", "idSubscription"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(query, field, counters):
    response = operator().get(f"/stock/add{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["status"] == 400
    assert field in error["details"]
    assert counters(2) == (0, 0, 0)


@pytest.mark.parametrize("body", [{"idSubscription": 2, "count": True}, {"idSubscription": [2], "count": 1}, [1, 2]])
def test_wrongly_typed_json_is_a_400(body, counters):
    response = operator().post("/stock/add", body, format="json")
    assert response.status_code == 400, response.content
    assert counters(2) == (0, 0, 0)


def test_malformed_json_is_a_400():
    response = operator().post("/stock/add", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_an_unknown_product_is_a_404():
    response = operator().get("/stock/add?idSubscription=9&count=1")
    assert response.status_code == 404
    assert "Unknown product" in response.json()["error"]["message"]


def test_a_customer_gets_403_and_no_token_gets_401(counters):
    customer = api_client(5).get("/stock/add?idSubscription=2&count=1")
    assert customer.status_code == 403
    assert customer.json()["error"]["status"] == 403
    assert api_client().get("/stock/add?idSubscription=2&count=1").status_code == 401
    assert api_client().post("/stock/add?idSubscription=2&count=1").status_code == 401
    assert counters(2) == (0, 0, 0)


def test_any_signed_in_caller_sees_the_stock_list(in_uow):
    in_uow(stock_reserve, order_id=uuid.uuid4(), product_id=1, quantity=4)
    response = api_client(5).get("/stock")
    assert response.status_code == 200
    assert response.json() == [
        {"idSubscription": 1, "onHand": 996, "reserved": 4, "received": 1000},
        {"idSubscription": 2, "onHand": 0, "reserved": 0, "received": 0},
        {"idSubscription": 3, "onHand": 0, "reserved": 0, "received": 0},
    ]
    assert api_client().get("/stock").status_code == 401


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_session_signed_in_operator_cannot_add_stock(method, client, django_user_model, counters):
    """/stock/add takes a bearer token only: a GET that changes state must not ride a browser
    session (an image tag on any page the operator visits could send it)."""
    operator = django_user_model.objects.create_superuser("operator-session@lotus.test", "a-long-operator-password")
    client.force_login(operator)
    assert client.get("/profile/me").status_code == 200, "the session itself is valid where sessions are taken"
    response = getattr(client, method)("/stock/add?idSubscription=2&count=1")
    assert response.status_code in (401, 403), response.content
    assert response.json()["error"]["status"] == response.status_code
    assert counters(2) == (0, 0, 0)
