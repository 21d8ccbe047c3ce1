"""The saga pages in the admin and the operator's actions: staff only, read-only order admin,
actions through the services (recorded with the operator's name), refusals shown politely."""

from unittest import mock

import psycopg
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.test import Client

from delivery.models import DeliveryRequest
from lotus.admin_site import READ_ONLY_MESSAGE
from lotus.messaging.models import DeadLetter, OutboxMessage
from lotus.testing import api_client
from lotus.topology import alias_for
from orders.models import Order, OrderTransition
from stock.models import StockItem

pytestmark = pytest.mark.django_db(databases="__all__")

CUSTOMER = 77


@pytest.fixture
def operator():
    client = Client()
    user = get_user_model().objects.create_user("ops@lotus.test", "x", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def place(saga, product: int, *, money: int = 2000, **run) -> str:
    customer = api_client(CUSTOMER)
    assert customer.post(f"/billing/add-money?money={money}").status_code == 200
    response = customer.post(f"/order/place?idSubscription={product}")
    assert response.status_code == 202, response.content
    saga.run(**run)
    return response.json()["orderId"]


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_saga_page_shows_the_trail(saga, operator):
    order_id = place(saga, 1)
    response = operator.get(f"/admin/sagas/{order_id}/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("NotifyingSourceSystem", "PaymentTaken", "StockReserved", "CourierReserved", "ReserveStock"):
        assert text in page
    assert 'id="related"' in page
    assert "/admin/billing/charge/" in page
    assert "/admin/stock/reservation/" in page
    assert "Cancel this order" not in page  # a completed order cannot be cancelled


def test_only_staff_sees_saga_pages(saga):
    order_id = place(saga, 1)
    customer = Client()
    customer.force_login(get_user_model().objects.create_user("c@lotus.test", "x"))
    for url in (
        f"/admin/sagas/{order_id}/",
        "/admin/sagas/stuck/",
        "/admin/sagas/",
        f"/admin/sagas/{order_id}/cancel/",
    ):
        response = customer.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    assert customer.post(f"/admin/sagas/{order_id}/cancel/").status_code == 302
    assert Order.objects.get(id=order_id).status == "NotifyingSourceSystem"


def test_searching_an_order_id_opens_its_saga(saga, operator):
    order_id = place(saga, 1)
    response = operator.get("/admin/sagas/", {"q": f"  {order_id} "})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/sagas/{order_id}/"
    response = operator.get("/admin/sagas/", {"q": "not-an-id"})
    assert response.status_code == 200
    assert "is not an order id" in " ".join(messages_of(response))
    response = operator.get("/admin/sagas/00000000-0000-4000-8000-000000000000/")
    assert response.status_code == 200
    assert "does not know" in " ".join(messages_of(response))


def test_the_stuck_list_groups_waiting_orders(saga, operator, lotus_setting):
    order_id = place(saga, 2)  # waits for stock
    lotus_setting("ADMIN", STUCK_AFTER_SECONDS=0.001)
    response = operator.get("/admin/sagas/stuck/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="stuck-ValidatingStock"' in page
    assert order_id in page
    assert "waiting for stock" in page


def test_the_order_admin_is_read_only_and_links_the_saga(saga, operator):
    order_id = place(saga, 2)
    changelist = operator.get("/admin/orders/order/").content.decode()
    assert f"/admin/sagas/{order_id}/" in changelist
    assert "/admin/sagas/stuck/" in changelist
    page = operator.get(f"/admin/orders/order/{order_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/admin/sagas/{order_id}/" in html
    for field in ("pending_compensations", "refunded", "cancel_reason", "status"):
        assert f'name="{field}"' not in html
    assert operator.post(f"/admin/orders/order/{order_id}/change/", {"cancel_reason": "x"}).status_code == 403
    assert operator.get("/admin/orders/order/add/").status_code == 403
    assert operator.post(f"/admin/orders/order/{order_id}/delete/", {"post": "yes"}).status_code == 403
    assert Order.objects.get(id=order_id).cancel_reason == ""


def test_cancel_asks_for_a_confirmation_then_cancels_through_orders_naming_the_operator(saga, operator):
    order_id = place(saga, 2)
    confirm = operator.get(f"/admin/sagas/{order_id}/cancel/")
    assert confirm.status_code == 200
    assert "csrfmiddlewaretoken" in confirm.content.decode()
    assert Order.objects.get(id=order_id).status == "ValidatingStock"

    response = operator.post(f"/admin/sagas/{order_id}/cancel/", follow=True)
    assert "is Cancelling" in " ".join(messages_of(response))
    history = OrderTransition.objects.filter(order_id=order_id).order_by("id").last()
    assert (history.target, history.reason) == ("Cancelling", "cancelled by the operator ops@lotus.test")
    assert history.message_source == ""
    assert history.message_id is None
    saga.run()
    assert Order.objects.get(id=order_id).status == "Cancelled"
    assert _admin_history(order_id) == [("ops@lotus.test", f"Order {order_id} is Cancelling: its compensations are "
                                         "asked for (cancelled by the operator ops@lotus.test).")]  # fmt: skip
    history_page = operator.get(f"/admin/orders/order/{order_id}/history/").content.decode()
    assert "cancelled by the operator ops@lotus.test" in history_page

    again = operator.post(f"/admin/sagas/{order_id}/cancel/", follow=True)
    assert "can no longer be cancelled" in " ".join(messages_of(again))


def test_cancel_needs_the_csrf_token(saga):
    order_id = place(saga, 2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_user("ops2@lotus.test", "x", is_staff=True, is_superuser=True))
    assert client.post(f"/admin/sagas/{order_id}/cancel/").status_code == 403
    assert Order.objects.get(id=order_id).status == "ValidatingStock"


def test_accept_a_manual_delivery_through_delivery(saga, operator):
    StockItem.objects.filter(product_id=3).update(on_hand=5, received=5)
    order_id = place(saga, 3)
    assert Order.objects.get(id=order_id).status == "ValidatingDelivery"
    assert "Accept the delivery" in operator.get(f"/admin/sagas/{order_id}/").content.decode()

    response = operator.post(f"/admin/sagas/{order_id}/accept-delivery/", follow=True)
    assert "Delivery accepted by ops@lotus.test" in " ".join(messages_of(response))
    assert DeliveryRequest.objects.get(order_id=order_id).status == DeliveryRequest.Status.RESERVED
    saga.run()
    assert Order.objects.get(id=order_id).status == "NotifyingSourceSystem"

    again = operator.post(f"/admin/sagas/{order_id}/accept-delivery/", follow=True)
    assert "not waiting to be accepted" in " ".join(messages_of(again))
    ((who, what),) = _admin_history(order_id)  # the refused second one is not recorded
    assert who == "ops@lotus.test"
    assert what.startswith("Delivery accepted by ops@lotus.test: courier ")


def test_replay_a_dead_letter_of_the_saga(saga, operator):
    order_id = place(saga, 2, hold=lambda envelope: envelope.type == "ReserveStock")
    (held,) = saga.held
    body = OutboxMessage.objects.using(alias_for("orders")).get(message_id=held.id).body
    letter = DeadLetter.objects.using(alias_for("stock")).create(
        message_id=held.id, message_type=held.type, topic="stock.commands", key=order_id, body=body, error="it broke"
    )
    page = operator.get(f"/admin/sagas/{order_id}/").content.decode()
    assert "it broke" in page
    assert f"/admin/sagas/{order_id}/dead-letters/stock/{letter.id}/replay/" in page

    response = operator.post(f"/admin/sagas/{order_id}/dead-letters/stock/{letter.id}/replay/", follow=True)
    assert f"Dead letter #{letter.id} of stock (ReserveStock) replayed" in " ".join(messages_of(response))
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    assert _admin_history(order_id) == [
        ("ops@lotus.test", f"Dead letter #{letter.id} of stock (ReserveStock) replayed: applied.")
    ]
    assert DeliveryRequest.objects.filter(order_id=order_id).count() == 0  # no stock yet: it waits
    assert operator.get(f"/admin/sagas/{order_id}/").content.decode().count("Replay…") == 0

    missing = operator.post(f"/admin/sagas/{order_id}/dead-letters/nosuch/1/replay/", follow=True)
    assert "There is no service" in " ".join(messages_of(missing))


def test_a_write_the_database_refuses_is_the_read_only_message_not_a_500(saga, operator):
    order_id = place(saga, 2)
    refusal = DatabaseError("permission denied for table orders_order")
    refusal.__cause__ = psycopg.errors.InsufficientPrivilege("permission denied")
    with mock.patch("orders.services.order_cancel", side_effect=refusal):
        response = operator.post(f"/admin/sagas/{order_id}/cancel/", follow=True)
    assert response.status_code == 200
    assert READ_ONLY_MESSAGE in messages_of(response)
    assert Order.objects.get(id=order_id).status == "ValidatingStock"


def _admin_history(order_id: str) -> list[tuple[str, str]]:
    entries = LogEntry.objects.filter(object_id=order_id).order_by("id")
    return [(entry.user.get_username(), entry.change_message) for entry in entries]
