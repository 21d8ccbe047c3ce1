"""Integration: Idempotency-Key on POST /order/place (the decorator is shared by every service)."""

import threading

import pytest
from django.db import connections

from lotus.idempotency.models import IdempotencyRecord
from lotus.messaging.models import OutboxMessage
from lotus.testing import api_client

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def catalog():
    from django.core.management import call_command

    call_command("seed")


def place(client, key=None, product=1):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/order/place?idSubscription={product}", **headers)


def outbox_rows():
    return OutboxMessage.objects.using("orders").count()


def test_a_retry_with_the_same_key_returns_the_first_response_and_changes_nothing():
    client = api_client(5)
    first = place(client, "key-1")
    rows = outbox_rows()
    again = place(client, "key-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert outbox_rows() == rows
    assert api_client(5).get("/order").json().__len__() == 1


def test_keys_are_scoped_per_customer_and_without_a_key_every_request_counts():
    first = place(api_client(5), "shared-key")
    other = place(api_client(6), "shared-key")
    assert first.json()["orderId"] != other.json()["orderId"]
    place(api_client(5))
    place(api_client(5))
    assert len(api_client(5).get("/order").json()) == 3


def test_the_same_key_with_a_different_request_is_422():
    client = api_client(5)
    assert place(client, "key-2", product=1).status_code == 202
    response = place(client, "key-2", product=2)
    assert response.status_code == 422
    assert "different request" in response.json()["error"]["message"]
    assert len(client.get("/order").json()) == 1


def test_a_failed_request_stores_nothing_so_its_key_can_be_retried():
    client = api_client(5)
    assert place(client, "key-3", product=99).status_code == 400
    assert not IdempotencyRecord.objects.using("orders").exists()
    assert place(client, "key-3", product=99).status_code == 400
    assert place(client, "key-3", product=1).status_code == 202


def test_an_overlong_key_is_400():
    assert place(api_client(5), "k" * 201).status_code == 400


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_concurrent_retries_with_one_key_place_one_order():
    responses = []

    def send():
        try:
            responses.append(place(api_client(5), "concurrent-key"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [202] * 8
    assert len({r.json()["orderId"] for r in responses}) == 1
    assert len(api_client(5).get("/order").json()) == 1
