"""The stock admin pages render, filter and stay read-only for the counters."""

import uuid

import pytest

from stock.models import Reservation, StockItem
from stock.services import stock_reserve

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("seeded")]


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin@lotus.test", "a-long-admin-password"))
    return client


def test_stock_items_and_reservations_are_listed_and_filtered(admin_client, in_uow):
    waiting, reserved = uuid.uuid4(), uuid.uuid4()
    in_uow(stock_reserve, order_id=waiting, product_id=2)
    in_uow(stock_reserve, order_id=reserved, product_id=1)
    assert admin_client.get("/admin/stock/stockitem/").status_code == 200
    page = admin_client.get("/admin/stock/reservation/?status__exact=waiting").content.decode()
    assert str(waiting) in page
    assert str(reserved) not in page
    assert admin_client.get("/admin/stock/reservation/?product_id=1").status_code == 200


def test_the_counters_cannot_be_edited_in_the_admin(admin_client):
    item = StockItem.objects.get(product_id=1)
    response = admin_client.post(
        f"/admin/stock/stockitem/{item.pk}/change/", {"product_id": 1, "on_hand": 5, "reserved": 0, "received": 5}
    )
    assert response.status_code in (200, 302)
    item.refresh_from_db()
    assert (item.on_hand, item.received) == (1000, 1000)
    assert admin_client.get("/admin/stock/reservation/add/").status_code == 403
    assert not Reservation.objects.exists()
