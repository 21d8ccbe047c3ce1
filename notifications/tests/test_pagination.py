"""GET /notification a page at a time (issue 14, item 4): still a JSON list, oldest first;
``?limit=`` (default and maximum from PAGINATION), ``?after=<id>``, an RFC 8288 next link."""

import re
import uuid

import pytest

from lotus.testing import api_client

pytestmark = pytest.mark.django_db(databases="__all__")
EVENTS = ["payment_failed", "order_paid", "order_reserved", "order_in_delivery", "order_cancelled"]


@pytest.fixture
def feed(notify):
    """Seven notifications of customer 1 (over two orders) and one of customer 2, oldest first."""
    first, second = uuid.uuid4(), uuid.uuid4()
    ids = [notify(customer_id=1, order_id=first, event=event, message=event).id for event in EVENTS]
    notify(customer_id=2, order_id=uuid.uuid4(), event="order_paid", message="not yours")
    ids += [notify(customer_id=1, order_id=second, event=event, message=event).id for event in EVENTS[:2]]
    return ids


def next_link(response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<(?P<target>[^>]+)>; rel="next"', link)
    assert match, link
    return match["target"]


def walk(client, path: str) -> tuple[list[list[int]], list[str]]:
    pages, links = [], []
    while path:
        response = client.get(path)
        assert response.status_code == 200, response.content
        assert isinstance(response.json(), list)
        pages.append([item["id"] for item in response.json()])
        path = next_link(response)
        if path:
            links.append(path)
    return pages, links


def test_pages_follow_the_next_links_to_the_whole_feed_in_order(feed):
    pages, links = walk(api_client(1), "/notification?limit=3")
    assert pages == [feed[0:3], feed[3:6], feed[6:7]]
    assert links == [f"/notification?limit=3&after={feed[2]}", f"/notification?limit=3&after={feed[5]}"]


def test_without_a_limit_the_default_applies_and_a_full_last_page_has_no_link(feed, lotus_setting):
    lotus_setting("PAGINATION", DEFAULT_LIMIT=7, MAX_LIMIT=10)
    response = api_client(1).get("/notification")
    assert [item["id"] for item in response.json()] == feed
    assert "Link" not in response.headers
    lotus_setting("PAGINATION", DEFAULT_LIMIT=4)
    response = api_client(1).get("/notification")
    assert [item["id"] for item in response.json()] == feed[:4]
    assert next_link(response) == f"/notification?limit=4&after={feed[3]}"


def test_the_order_filter_is_kept_in_the_next_link(feed):
    order = api_client(1).get("/notification").json()[-1]["orderId"]
    first = api_client(1).get(f"/notification?orderId={order}&limit=1")
    assert [item["id"] for item in first.json()] == [feed[5]]
    assert next_link(first) == f"/notification?orderId={order}&limit=1&after={feed[5]}"
    rest = api_client(1).get(next_link(first))
    assert [item["id"] for item in rest.json()] == [feed[6]]
    assert "Link" not in rest.headers


def test_after_a_cursor_only_later_items_of_the_caller(feed):
    assert [item["id"] for item in api_client(1).get(f"/notification?after={feed[4]}").json()] == feed[5:]
    assert api_client(2).get(f"/notification?after={feed[-1]}").json() == []
    assert api_client(1).get("/notification?after=0").json()[0]["id"] == feed[0]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=-1", "limit=201", "limit=abc", "limit=1.5", "after=-1", "after=x", f"after={2**63}", "after="],
)
def test_an_invalid_limit_or_cursor_is_400_naming_it(feed, query):
    response = api_client(1).get(f"/notification?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()["error"]["details"]


def test_the_maximum_is_accepted_and_follows_the_setting(feed, lotus_setting):
    assert api_client(1).get("/notification?limit=200").status_code == 200
    lotus_setting("PAGINATION", MAX_LIMIT=5, DEFAULT_LIMIT=5)
    assert api_client(1).get("/notification?limit=6").status_code == 400
    assert len(api_client(1).get("/notification?limit=5").json()) == 5
