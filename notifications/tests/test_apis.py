"""GET /notification beyond test_notifications.py: the order filter, the wire format, bad tokens."""

import uuid
from datetime import datetime

import pytest

from lotus.testing import api_client, token_for

pytestmark = pytest.mark.django_db(databases="__all__")


def test_the_order_filter_keeps_that_orders_notifications_oldest_first(notify):
    mine, other = uuid.uuid4(), uuid.uuid4()
    notify(customer_id=1, order_id=mine, event="payment_failed", message="failed")
    notify(customer_id=1, order_id=other, event="order_paid", message="other paid")
    notify(customer_id=1, order_id=mine, event="order_paid", message="paid")
    response = api_client(1).get(f"/notification?orderId={mine}")
    assert response.status_code == 200
    assert [(n["event"], n["message"]) for n in response.json()] == [
        ("payment_failed", "failed"),
        ("order_paid", "paid"),
    ]
    assert [n["orderId"] for n in api_client(1).get("/notification").json()] == [str(mine), str(other), str(mine)]


def test_each_notification_has_its_id_and_an_iso_timestamp(notify):
    created = notify(customer_id=1, order_id=uuid.uuid4(), event="order_paid", message="paid")
    [notification] = api_client(1).get("/notification").json()
    assert notification["id"] == created.id
    assert datetime.fromisoformat(notification["createdAt"].replace("Z", "+00:00")) == created.created_at


def test_a_customer_without_notifications_gets_an_empty_list():
    response = api_client(42).get("/notification")
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("order_id", ["nope", "123", "", "00000000-0000-0000-0000-00000000000g"])
def test_an_order_id_that_is_not_a_uuid_is_400(order_id):
    response = api_client(1).get("/notification", {"orderId": order_id})
    assert response.status_code == 400
    assert "orderId" in response.json()["error"]["details"]


def test_a_forged_or_missing_token_is_401():
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(1)[:-4]}AAAA")
    assert client.get("/notification").status_code == 401
    response = api_client().get("/notification")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_the_feed_is_read_only():
    assert api_client(1).post("/notification", {}, format="json").status_code == 405
