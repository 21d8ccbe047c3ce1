"""Integration: Idempotency-Key on POST /order/place (the decorator is shared by every service),
and the unit of work the decorator opens and hands to the view."""

import threading

import pytest
from django.db import connections
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from lotus.contracts.diagnostics import Ping
from lotus.errors import Conflict
from lotus.idempotency.decorators import idempotent
from lotus.idempotency.models import IdempotencyRecord
from lotus.messaging.models import OutboxMessage
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import api_client, token_for

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


class SendThenAnswer(APIView):
    """Sends a ping in the unit of work it is given, then answers 201, or fails with 409."""

    units: list[UnitOfWork] = []

    @idempotent(service="orders")
    def post(self, request, uow):
        self.units.append(uow)
        uow.send(Ping(note=request.data["note"]))
        if request.data.get("fail"):
            raise Conflict("refused after sending")
        return Response({"note": request.data["note"]}, status=201)


def send_then_answer(body, key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(5)}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    request = APIRequestFactory().post("/ping", body, format="json", **headers)
    return SendThenAnswer.as_view()(request)


def pings():
    return list(OutboxMessage.objects.using("orders").filter(message_type="Ping").values_list("key", flat=True))


@pytest.fixture
def units():
    SendThenAnswer.units = []
    return SendThenAnswer.units


@pytest.mark.parametrize("key", [None, "key-uow"])
def test_the_view_gets_the_services_unit_of_work_and_what_it_sends_is_written(units, key):
    response = send_then_answer({"note": "hello"}, key)
    assert response.status_code == 201
    [uow] = units
    assert (uow.service, uow.alias) == ("orders", "orders")
    assert uow.sent == [Ping(note="hello")]
    assert len(pings()) == 1


def test_the_stored_response_and_the_views_messages_commit_together_and_a_replay_sends_nothing(units):
    assert send_then_answer({"note": "once"}, "key-once").status_code == 201
    record = IdempotencyRecord.objects.using("orders").get(key="key-once")
    assert (record.status_code, record.body) == (201, {"note": "once"})
    replay = send_then_answer({"note": "once"}, "key-once")
    assert (replay.status_code, replay.data, replay["Idempotent-Replayed"]) == (201, {"note": "once"}, "true")
    assert len(units) == 1
    assert len(pings()) == 1


def test_a_view_that_fails_after_sending_leaves_neither_its_messages_nor_the_key(units):
    assert send_then_answer({"note": "no", "fail": True}, "key-fail").status_code == 409
    assert pings() == []
    assert not IdempotencyRecord.objects.using("orders").exists()
    assert send_then_answer({"note": "no"}, "key-fail").status_code == 201
    assert len(pings()) == 1


def test_the_relays_housekeeping_prunes_records_older_than_the_ttl_in_each_database(lotus_setting):
    """Issue 14, item 4: records go by age, not only when their key is used again."""
    from datetime import timedelta

    from django.utils import timezone

    from lotus.messaging.relay import Relay

    lotus_setting("IDEMPOTENCY", TTL_HOURS=2)
    client = api_client(9)
    for key in ("old", "recent"):
        assert place(client, key=key).status_code == 202
    assert client.post("/billing/add-money?money=5", HTTP_IDEMPOTENCY_KEY="old-top-up").status_code == 200
    now = timezone.now()
    IdempotencyRecord.objects.using("orders").filter(key="old").update(created_at=now - timedelta(hours=2, minutes=1))
    IdempotencyRecord.objects.using("orders").filter(key="recent").update(created_at=now - timedelta(hours=1))
    IdempotencyRecord.objects.using("billing").filter(key="old-top-up").update(created_at=now - timedelta(hours=3))

    assert Relay("orders").prune() >= 1
    assert list(IdempotencyRecord.objects.using("orders").values_list("key", flat=True)) == ["recent"]
    assert IdempotencyRecord.objects.using("billing").filter(key="old-top-up").exists(), "each relay prunes its own"
    Relay("billing").prune()
    assert not IdempotencyRecord.objects.using("billing").filter(key="old-top-up").exists()
    # The pruned key is new again; the kept one still replays.
    assert place(client, key="recent").headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in place(client, key="old").headers
