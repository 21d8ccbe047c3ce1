"""The admin lists notifications, filters them by event and finds them by order id."""

import uuid

import pytest

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def operator_client(client, django_user_model):
    operator = django_user_model.objects.create_superuser("admin@lotus.test", "a-long-admin-password")
    client.force_login(operator)
    return client


@pytest.fixture
def two_orders(notify):
    first, second = uuid.uuid4(), uuid.uuid4()
    notify(customer_id=1, order_id=first, event="order_paid", message="paid")
    notify(customer_id=2, order_id=second, event="payment_failed", message="failed")
    return first, second


def test_the_list_filters_by_event(operator_client, two_orders):
    first, second = two_orders
    page = operator_client.get("/admin/notifications/notification/?event=payment_failed").content.decode()
    assert str(second) in page
    assert str(first) not in page


@pytest.mark.parametrize("term", ["full", "prefix"])
def test_the_list_finds_an_order_by_its_id(operator_client, two_orders, term):
    first, second = two_orders
    query = str(first) if term == "full" else str(first)[:8]
    response = operator_client.get("/admin/notifications/notification/", {"q": query})
    assert response.status_code == 200
    assert str(first) in response.content.decode()
    assert str(second) not in response.content.decode()


def test_a_search_for_garbage_finds_nothing_and_fails_nothing(operator_client, two_orders):
    response = operator_client.get("/admin/notifications/notification/", {"q": "no-such-order %_'"})
    assert response.status_code == 200
    assert all(str(order) not in response.content.decode() for order in two_orders)


def test_notifications_cannot_be_added_by_hand(operator_client):
    assert operator_client.get("/admin/notifications/notification/add/").status_code == 403
