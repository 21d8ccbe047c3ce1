"""Bounded top-ups (issue 14, items 3 and 4): a rate per customer, a body-size limit that holds
for JSON, and a ceiling on the balance, each answering a JSON 4xx and changing nothing."""

import json
import random

import pytest
from django.db import connections

from billing.models import Account, LedgerEntry
from lotus.testing import api_client

pytestmark = pytest.mark.django_db(databases="__all__")


def fresh_customer() -> int:
    """A customer id no other test counted top-ups for (counters outlive transactional tests)."""
    return random.randrange(10**9, 10**12)


def balance(customer: int):
    return api_client(customer).get("/billing/balance").json()["balance"]


def test_top_ups_of_one_customer_are_429_after_the_limit(lotus_setting, assert_books):
    lotus_setting("THROTTLE", TOP_UP="2/day")
    customer, other = fresh_customer(), fresh_customer()
    client = api_client(customer)
    assert [client.post("/billing/add-money?money=10").status_code for _ in range(2)] == [200, 200]
    refused = api_client(customer).post("/billing/add-money?money=10")  # a second client of the same customer
    assert refused.status_code == 429, refused.content
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "throttled"
    assert balance(customer) == 20
    assert api_client(other).post("/billing/add-money?money=10").status_code == 200
    assert api_client(customer).get("/billing/balance").status_code == 200, "reads are not throttled"
    assert_books()


def test_the_throttle_counts_in_billings_own_database(lotus_setting):
    lotus_setting("THROTTLE", TOP_UP="5/day")

    def counters(alias: str) -> int:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM lotus_throttle")
            return cursor.fetchone()[0]

    before = {alias: counters(alias) for alias in ("billing", "default", "orders")}
    assert api_client(fresh_customer()).post("/billing/add-money?money=1").status_code == 200
    assert {alias: counters(alias) - before[alias] for alias in before} == {"billing": 1, "default": 0, "orders": 0}


@pytest.mark.parametrize("idempotency_key", [None, "big-body-1"])
def test_a_3_mb_json_body_is_413_and_changes_nothing(idempotency_key, assert_books):
    customer = fresh_customer()
    client = api_client(customer)
    assert client.post("/billing/add-money?money=5").status_code == 200
    body = json.dumps({"money": "100", "padding": "x" * (3 * 1024 * 1024)})
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    response = client.post("/billing/add-money", data=body, content_type="application/json", **headers)
    assert response.status_code == 413, response.content[:300]
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (413, "request_too_large")
    assert balance(customer) == 5
    assert LedgerEntry.objects.filter(account__customer_id=customer).count() == 1
    assert_books()


def test_a_body_just_under_the_limit_is_parsed(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = api_client(fresh_customer())
    # Padded with JSON whitespace: an unknown field would be refused (400) whatever the size.
    small = '{"money": "7"' + " " * 900 + "}"
    assert client.post("/billing/add-money", data=small, content_type="application/json").status_code == 200
    large = '{"money": "7"' + " " * 1000 + "}"
    assert client.post("/billing/add-money", data=large, content_type="application/json").status_code == 413
    form = "money=7&note=" + "x" * 1000
    response = client.post("/billing/add-money", data=form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_a_top_up_past_the_balance_ceiling_is_400_and_changes_nothing(lotus_setting, assert_books):
    lotus_setting("THROTTLE", TOP_UP=None)
    customer = fresh_customer()
    client = api_client(customer)
    for _ in range(100):  # the default ceiling, 100,000,000, in the largest top-ups
        assert client.post("/billing/add-money?money=1000000").status_code == 200
    assert balance(customer) == 100_000_000
    refused = client.post("/billing/add-money?money=0.01")
    assert refused.status_code == 400, refused.content
    assert "money" in refused.json()["error"]["details"]
    assert balance(customer) == 100_000_000
    assert LedgerEntry.objects.filter(account__customer_id=customer).count() == 100
    assert_books()


def test_numeric_overflow_is_400_not_500_whatever_the_settings(lotus_setting, assert_books):
    """Even with the ceilings raised to numeric(14,2)'s edge, the balance never overflows into a 500."""
    lotus_setting("BILLING", MAX_TOP_UP=999_999_999_999, MAX_BALANCE=999_999_999_999)
    customer = fresh_customer()
    client = api_client(customer)
    assert client.post("/billing/add-money?money=999999999999").status_code == 200
    for amount in ("1", "0.01", "999999999999", "99999999999999"):
        response = client.post(f"/billing/add-money?money={amount}")
        assert response.status_code == 400, (amount, response.content)
    assert Account.objects.get(customer_id=customer).balance == 999_999_999_999
    assert_books()


@pytest.mark.parametrize("amount", ["1000000.01", "1e7", "99999999999999", "1" + "0" * 40])
def test_a_top_up_above_the_maximum_is_400(amount):
    customer = fresh_customer()
    response = api_client(customer).post(f"/billing/add-money?money={amount}")
    assert response.status_code == 400, response.content
    assert "money" in response.json()["error"]["details"]
    assert balance(customer) == 0
