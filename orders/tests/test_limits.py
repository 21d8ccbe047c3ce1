"""Orders, bounded (issue 14, items 3 and 4): placing is throttled per customer; GET /order comes
a page at a time, still a JSON list oldest first, with ``?limit=``, ``?after=<orderId>`` and an
RFC 8288 next link."""

import random
import re
import uuid

import pytest

from lotus.testing import api_client
from orders.models import Order

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("catalog")]


def fresh_customer() -> int:
    return random.randrange(10**9, 10**12)


def test_orders_placed_by_one_customer_are_429_after_the_limit(lotus_setting):
    lotus_setting("THROTTLE", PLACE="3/day")
    customer = fresh_customer()
    assert [api_client(customer).post("/order/place?idSubscription=1").status_code for _ in range(3)] == [202] * 3
    refused = api_client(customer).post("/order/place?idSubscription=1")
    assert refused.status_code == 429, refused.content
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "throttled"
    assert Order.objects.filter(customer_id=customer).count() == 3
    assert api_client(fresh_customer()).post("/order/place?idSubscription=1").status_code == 202
    assert api_client(customer).get("/order").status_code == 200, "reads are not throttled"


@pytest.fixture
def orders(place):
    """Five orders of one customer, two of them placed at the same instant (ties go by id),
    and one of another customer; in the list's order."""
    customer = fresh_customer()
    placed = [place(customer_id=customer, product_id=1) for _ in range(5)]
    place(customer_id=fresh_customer(), product_id=1)
    Order.objects.filter(id__in=[placed[2].id, placed[3].id]).update(created_at=placed[2].created_at)
    expected = sorted(Order.objects.filter(customer_id=customer), key=lambda order: (order.created_at, order.id))
    return customer, [str(order.id) for order in expected]


def next_link(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<(?P<target>/order\?[^>]+)>; rel="next"', link)
    assert match, link
    return match["target"]


def test_pages_follow_the_next_links_to_every_order_in_order(orders):
    customer, expected = orders
    client, path, pages = api_client(customer), "/order?limit=2", []
    while path:
        response = client.get(path)
        assert response.status_code == 200, response.content
        pages.append([order["orderId"] for order in response.json()])
        path = next_link(response)
    assert pages == [expected[0:2], expected[2:4], expected[4:5]]


def test_the_default_limit_applies_without_one(orders, lotus_setting):
    customer, expected = orders
    lotus_setting("PAGINATION", DEFAULT_LIMIT=3)
    response = api_client(customer).get("/order")
    assert [order["orderId"] for order in response.json()] == expected[:3]
    assert next_link(response) == f"/order?limit=3&after={expected[2]}"
    lotus_setting("PAGINATION", DEFAULT_LIMIT=50)
    response = api_client(customer).get("/order")
    assert [order["orderId"] for order in response.json()] == expected
    assert "Link" not in response.headers


def test_another_customers_order_or_an_unknown_one_is_no_cursor(orders):
    customer, expected = orders
    assert api_client(fresh_customer()).get(f"/order?after={expected[0]}").status_code == 400
    response = api_client(customer).get(f"/order?after={uuid.uuid4()}")
    assert response.status_code == 400
    assert "after" in response.json()["error"]["details"]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "after=42", "after="])
def test_an_invalid_limit_or_cursor_is_400_naming_it(orders, query):
    customer, _ = orders
    response = api_client(customer).get(f"/order?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()["error"]["details"]
