"""The delivery admin pages render and filter."""

import uuid

import pytest

from delivery.services import courier_reserve

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("two_couriers")]


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin@lotus.test", "a-long-admin-password"))
    return client


def test_couriers_bookings_and_requests_are_listed_and_filtered(admin_client, in_uow):
    waiting, reserved = uuid.uuid4(), uuid.uuid4()
    in_uow(courier_reserve, order_id=waiting, product_id=3, manual=True)
    in_uow(courier_reserve, order_id=reserved, product_id=1)
    assert admin_client.get("/admin/delivery/courier/").status_code == 200
    assert admin_client.get("/admin/delivery/slotbooking/").status_code == 200
    page = admin_client.get("/admin/delivery/deliveryrequest/?status__exact=waiting").content.decode()
    assert str(waiting) in page
    assert str(reserved) not in page
    assert admin_client.get("/admin/delivery/slotbooking/add/").status_code == 403
