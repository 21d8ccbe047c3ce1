"""The delivery API: the operator accepting a waiting delivery, and the slot board."""

import uuid
from datetime import timedelta

import pytest

from delivery.services import courier_reserve
from lotus.testing import api_client

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("two_couriers")]


def operator():
    return api_client(1, is_staff=True)


def waiting_order(in_uow, slot=None) -> uuid.UUID:
    order = uuid.uuid4()
    in_uow(courier_reserve, order_id=order, product_id=3, slot=slot, manual=True)
    return order


def test_the_operator_accepts_a_waiting_order_with_put_as_in_the_seed(
    two_couriers, tomorrow_at_ten, assert_slots_consistent, request_of, in_uow
):
    order = waiting_order(in_uow, tomorrow_at_ten)
    response = operator().put(f"/delivery/accept?idOrder={order}")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "orderId": str(order),
        "status": "reserved",
        "courierId": two_couriers[0].id,
        "slot": tomorrow_at_ten.isoformat().replace("+00:00", "Z"),
    }
    assert request_of(order).status == "reserved"
    assert_slots_consistent()


def test_post_and_a_json_body_are_accepted_too(assert_slots_consistent, in_uow):
    first, second = waiting_order(in_uow), waiting_order(in_uow)
    assert operator().post(f"/delivery/accept?idOrder={first}").status_code == 200
    response = operator().put("/delivery/accept", {"idOrder": str(second)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["orderId"] == str(second)
    assert_slots_consistent()


@pytest.mark.parametrize("query", ["", "?idOrder=", "?idOrder=42", "?idOrder=not-a-uuid", "?idOrder=-1"])
def test_a_missing_or_invalid_order_id_is_a_400(query):
    response = operator().put(f"/delivery/accept{query}")
    assert response.status_code == 400, response.content
    assert "idOrder" in response.json()["error"]["details"]


def test_malformed_json_is_a_400():
    response = operator().put("/delivery/accept", data="{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_an_unknown_order_is_a_404():
    response = operator().put(f"/delivery/accept?idOrder={uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_order_that_is_not_waiting_is_a_409(assert_slots_consistent, in_uow):
    order = waiting_order(in_uow)
    assert operator().put(f"/delivery/accept?idOrder={order}").status_code == 200
    response = operator().put(f"/delivery/accept?idOrder={order}")
    assert response.status_code == 409
    assert "not waiting" in response.json()["error"]["message"]
    assert_slots_consistent()


def test_no_free_courier_is_a_409_with_a_clear_message(
    lotus_setting, two_couriers, tomorrow_at_ten, request_of, in_uow
):
    lotus_setting("DELIVERY", HORIZON_DAYS=1)
    for courier in two_couriers:
        courier.capacity_per_slot = 0
        courier.save()
    order = waiting_order(in_uow, tomorrow_at_ten)
    response = operator().put(f"/delivery/accept?idOrder={order}")
    assert response.status_code == 409
    assert "No courier has a free slot in the next 1 days" in response.json()["error"]["message"]
    assert request_of(order).status == "waiting"


def test_a_customer_gets_403_and_no_token_gets_401(request_of, in_uow):
    order = waiting_order(in_uow)
    assert api_client(5).put(f"/delivery/accept?idOrder={order}").status_code == 403
    assert api_client().put(f"/delivery/accept?idOrder={order}").status_code == 401
    assert request_of(order).status == "waiting"


def test_the_slot_board_shows_each_couriers_hours_of_a_day(two_couriers, tomorrow_at_ten, in_uow):
    ann, bob = two_couriers
    in_uow(courier_reserve, order_id=uuid.uuid4(), product_id=1, slot=tomorrow_at_ten)
    response = api_client(5).get(f"/delivery/slots?date={tomorrow_at_ten:%Y-%m-%d}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["date"] == f"{tomorrow_at_ten:%Y-%m-%d}"
    assert len(body["slots"]) == 24
    ten = body["slots"][10]
    assert ten["slot"] == tomorrow_at_ten.isoformat().replace("+00:00", "Z")
    assert ten["couriers"] == [
        {"courierId": ann.id, "name": "Ann", "booked": 1, "capacity": 2},
        {"courierId": bob.id, "name": "Bob", "booked": 0, "capacity": 1},
    ]
    assert body["slots"][11]["couriers"][0]["booked"] == 0
    day_before = tomorrow_at_ten - timedelta(days=1)
    assert (
        api_client(5).get(f"/delivery/slots?date={day_before:%Y-%m-%d}").json()["slots"][10]["couriers"][0]["booked"]
        == 0
    )


@pytest.mark.parametrize("query", ["", "?date=", "?date=tomorrow", "?date=2030-13-01", "?date=9999-12-31", "?date=1"])
def test_the_slot_board_rejects_a_bad_date_with_400(query):
    response = api_client(5).get(f"/delivery/slots{query}")
    assert response.status_code == 400, response.content
    assert "date" in response.json()["error"]["details"]


def test_the_slot_board_needs_a_token():
    assert api_client().get("/delivery/slots?date=2030-01-01").status_code == 401
