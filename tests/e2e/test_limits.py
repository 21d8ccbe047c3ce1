"""End to end through the router (issue 14, items 3 and 4): sign-in throttled per account, a body
over the limit refused with nothing changed, the balance's ceiling, and paginated lists."""

import re
import uuid
from decimal import Decimal

import pytest

from lotus.conf import DEFAULTS
from lotus.testing import wait_for

from .conftest import Api
from .test_saga import assert_books_balance

pytestmark = pytest.mark.e2e


def rate_of(stack, name: str) -> int:
    rate = stack.env.get(f"LOTUS_THROTTLE_{name}", DEFAULTS["THROTTLE"][name])
    return int(rate.split("/")[0])


def test_wrong_passwords_for_one_account_end_in_429_with_retry_after(stack):
    email, password = f"e2e-{uuid.uuid4().hex[:12]}@lotus.test", "E2e-Customer-Pass-2026"
    anonymous = Api(stack.url)
    assert anonymous.call("POST", "/profile/register", json={"email": email, "password": password}).status_code == 201
    limit = rate_of(stack, "LOGIN_ACCOUNT")
    answers = []
    # A fixed window may end during the run and start the count over: at most 2 * limit + 1 tries.
    for _ in range(2 * limit + 1):
        response = anonymous.call("POST", "/profile/login", json={"email": email, "password": "wrong-Pass-2026"})
        answers.append(response.status_code)
        if response.status_code == 429:
            break
    assert answers[-1] == 429, answers
    assert limit <= answers.index(429) <= 2 * limit, answers
    assert set(answers[:-1]) == {401}, answers
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "throttled"
    right = anonymous.call("POST", "/profile/login", json={"email": email.upper(), "password": password})
    assert right.status_code == 429, "the right password waits too"


def test_a_body_over_the_limit_is_413_json_and_the_balance_is_unchanged(stack):
    api = stack.customer(money=100)
    padding = "x" * (300 * 1024)  # over the web's 256 KiB; under the router's own 1 MiB
    response = api.call("POST", "/billing/add-money", json={"money": 50, "padding": padding})
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "request_too_large"
    huge = api.call("POST", "/billing/add-money", json={"money": 50, "padding": "x" * (3 * 1024 * 1024)})
    assert huge.status_code == 413  # the router refuses this one itself
    assert api.call("GET", "/billing/balance").json()["balance"] == 100
    assert_books_balance(stack)


def test_a_top_up_past_the_balance_ceiling_is_400_and_changes_nothing(stack):
    api = stack.customer()
    ceiling = int(stack.env.get("LOTUS_MAX_BALANCE", DEFAULTS["BILLING"]["MAX_BALANCE"]))
    top_up = int(stack.env.get("LOTUS_MAX_TOP_UP", DEFAULTS["BILLING"]["MAX_TOP_UP"]))
    for _ in range(ceiling // top_up):
        assert api.call("POST", f"/billing/add-money?money={top_up}").status_code == 200
    refused = api.call("POST", "/billing/add-money?money=1")
    assert refused.status_code == 400, refused.text
    assert "money" in refused.json()["error"]["details"]
    assert Decimal(str(api.call("GET", "/billing/balance").json()["balance"])) == ceiling
    assert_books_balance(stack)


def walk(api, path: str) -> list[list]:
    pages = []
    while path:
        response = api.call("GET", path)
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)
        pages.append(response.json())
        link = response.headers.get("Link")
        path = re.fullmatch(r'<(/[^>]+)>; rel="next"', link)[1] if link else None
    return pages


def test_orders_and_notifications_come_a_page_at_a_time_with_next_links(stack):
    api = stack.customer(money=1000)
    placed = [api.call("POST", "/order/place?idSubscription=1").json()["orderId"] for _ in range(3)]
    pages = walk(api, "/order?limit=2")
    assert [[order["orderId"] for order in page] for page in pages] == [placed[:2], placed[2:]]

    def delivered() -> bool:
        events = [item["event"] for item in api.call("GET", "/notification").json()]
        return events.count("order_in_delivery") == 3

    wait_for(delivered, timeout=60, message="the three orders' last notifications")
    everything = api.call("GET", "/notification").json()
    pages = walk(api, "/notification?limit=4")
    assert len(everything) >= 9
    assert [len(page) for page in pages][:2] == [4, 4]
    assert [item for page in pages for item in page] == everything
    assert api.call("GET", "/notification?limit=0").status_code == 400
    assert api.call("GET", "/order?after=not-an-id").status_code == 400
