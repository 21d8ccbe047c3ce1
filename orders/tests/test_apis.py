"""The orders API: place (202), read own orders with their history, and every error it names."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from lotus.testing import api_client, token_for

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("catalog")]


def test_place_answers_202_with_the_order_at_once():
    response = api_client(5).post("/order/place?idSubscription=1")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "ValidatingBilling"
    assert body["idSubscription"] == 1
    assert body["price"] == 300
    assert uuid.UUID(body["orderId"])
    assert body["history"][0]["to"] == "ValidatingBilling"


def test_place_writes_one_outbox_insert_and_does_not_read_back_its_history():
    with CaptureQueriesContext(connections["orders"]) as queries:
        response = api_client(5).post("/order/place?idSubscription=1")
    assert response.status_code == 202, response.content
    assert [step["reason"] for step in response.json()["history"]] == ["placed"]
    statements = [query["sql"] for query in queries.captured_queries]
    assert sum('INSERT INTO "messaging_outboxmessage"' in sql for sql in statements) == 1
    assert not any(sql.startswith("SELECT") and "orders_ordertransition" in sql for sql in statements)


def test_place_accepts_a_json_body_and_a_delivery_slot():
    slot = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    response = api_client(5).post(
        "/order/place", {"idSubscription": 3, "deliverySlot": slot.isoformat()}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["deliverySlot"].startswith(slot.strftime("%Y-%m-%dT%H:00:00"))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "idSubscription"),
        ("?idSubscription=abc", "idSubscription"),
        ("?idSubscription=-1", "idSubscription"),
        ("?idSubscription=0", "idSubscription"),
        ("?idSubscription=99999999999999999999", "idSubscription"),
        ("?idSubscription=1&deliverySlot=tomorrow", "deliverySlot"),
        ("?idSubscription=1&deliverySlot=2001-01-01T10:00:00Z", "deliverySlot"),
        ("?idSubscription=1&deliverySlot=2099-01-01T10:30:00Z", "deliverySlot"),
    ],
)
def test_place_rejects_bad_input_with_a_400_naming_the_field(query, field):
    response = api_client(5).post(f"/order/place{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_place_rejects_an_unknown_product_with_400():
    response = api_client(5).post("/order/place?idSubscription=42")
    assert response.status_code == 400
    assert "Unknown product" in response.json()["error"]["message"]


def test_place_rejects_malformed_json_with_400():
    response = api_client(5).post("/order/place", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_place_without_a_token_is_401_and_with_a_forged_token_too():
    assert api_client().post("/order/place?idSubscription=1").status_code == 401
    forged = token_for(5)[:-4] + "AAAA"
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    response = client.post("/order/place?idSubscription=1")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_an_order_is_visible_to_its_owner_only(place):
    order = place(customer_id=5, product_id=2)
    mine = api_client(5).get(f"/order/{order.id}")
    assert mine.status_code == 200
    assert mine.json()["orderId"] == str(order.id)
    assert mine.json()["status"] == "ValidatingBilling"
    assert api_client(6).get(f"/order/{order.id}").status_code == 404
    assert api_client(5).get(f"/order/{uuid.uuid4()}").status_code == 404
    assert api_client(5).get("/order/not-a-uuid").status_code == 404


def test_the_list_holds_the_callers_orders_oldest_first(place):
    first = place(customer_id=5, product_id=1)
    second = place(customer_id=5, product_id=2)
    place(customer_id=6, product_id=1)
    response = api_client(5).get("/order")
    assert response.status_code == 200
    assert [o["orderId"] for o in response.json()] == [str(first.id), str(second.id)]
