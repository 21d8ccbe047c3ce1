"""The delivery handlers through the real inbox + handler transaction (no Kafka)."""

import json
import uuid
from datetime import timedelta

import pytest

from delivery.handlers import REGISTRY
from delivery.models import SlotBooking
from delivery.services import AWAITING_OPERATOR
from lotus.contracts.delivery import CourierPending, CourierReleased, CourierReserved, ReleaseCourier, ReserveCourier
from lotus.contracts.diagnostics import Ping
from lotus.messaging.consumer import Outcome
from lotus.messaging.models import OutboxMessage
from lotus.testing import deliver, deliver_envelope, published

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("two_couriers")]


def command(message):
    return deliver(message, to="delivery", handlers=REGISTRY, correlation_id=str(message.order_id))


def total_booked() -> int:
    return sum(SlotBooking.objects.values_list("booked", flat=True))


def test_the_registry_handles_the_delivery_commands_and_ping():
    assert REGISTRY.message_types() == sorted(["ReserveCourier", "ReleaseCourier", "Ping"])
    assert deliver(Ping(note="hi"), to="delivery", handlers=REGISTRY)[0] is Outcome.APPLIED


def test_reserve_courier_books_the_slot_and_replies_with_the_command_as_cause(
    tomorrow_at_ten, assert_slots_consistent, request_of
):
    order = uuid.uuid4()
    outcome, envelope = command(ReserveCourier(order_id=order, product_id=1, slot=tomorrow_at_ten))
    assert outcome is Outcome.APPLIED
    request = request_of(order)
    assert published("delivery") == [
        CourierReserved(order_id=order, courier_id=request.courier_id, slot=tomorrow_at_ten)
    ]
    reply = json.loads(OutboxMessage.objects.using("delivery").get().body)
    assert (reply["causation_id"], reply["correlation_id"]) == (str(envelope.id), str(order))
    assert_slots_consistent()


def test_a_duplicate_reserve_courier_is_skipped_without_a_second_booking(tomorrow_at_ten, assert_slots_consistent):
    order = uuid.uuid4()
    _, envelope = command(ReserveCourier(order_id=order, product_id=1, slot=tomorrow_at_ten))
    assert deliver_envelope(envelope, to="delivery", handlers=REGISTRY) is Outcome.DUPLICATE
    assert total_booked() == 1
    assert len(published("delivery")) == 1
    assert_slots_consistent()


def test_a_manual_reserve_courier_waits_for_the_operator(request_of):
    order = uuid.uuid4()
    command(ReserveCourier(order_id=order, product_id=3, manual=True))
    assert request_of(order).status == "waiting"
    assert published("delivery") == [CourierPending(order_id=order, reason=AWAITING_OPERATOR)]
    assert total_booked() == 0


def test_release_courier_frees_the_slot_and_a_duplicate_changes_nothing(
    tomorrow_at_ten, assert_slots_consistent, request_of
):
    order = uuid.uuid4()
    command(ReserveCourier(order_id=order, product_id=1, slot=tomorrow_at_ten))
    outcome, envelope = command(ReleaseCourier(order_id=order))
    assert outcome is Outcome.APPLIED
    assert deliver_envelope(envelope, to="delivery", handlers=REGISTRY) is Outcome.DUPLICATE
    assert total_booked() == 0
    assert request_of(order).status == "released"
    assert published("delivery", CourierReleased) == [CourierReleased(order_id=order)]
    assert_slots_consistent()


def test_release_before_reserve_wins_the_race_and_the_late_reserve_books_nothing(request_of):
    order = uuid.uuid4()
    command(ReleaseCourier(order_id=order))
    outcome, _ = command(ReserveCourier(order_id=order, product_id=1))
    assert outcome is Outcome.APPLIED
    assert request_of(order).status == "released"
    assert total_booked() == 0
    assert published("delivery") == [CourierReleased(order_id=order)]


def test_a_release_and_the_late_reserve_of_its_order_in_one_batch_book_nothing(in_one_batch, request_of):
    order = uuid.uuid4()
    in_one_batch(ReleaseCourier(order_id=order), ReserveCourier(order_id=order, product_id=1))
    assert request_of(order).status == "released"
    assert total_booked() == 0
    assert published("delivery") == [CourierReleased(order_id=order)]


def test_reservations_in_one_batch_share_the_slot_rows_they_create(
    two_couriers, tomorrow_at_ten, in_one_batch, assert_slots_consistent
):
    orders = [uuid.uuid4() for _ in range(4)]
    in_one_batch(*(ReserveCourier(order_id=order, product_id=1, slot=tomorrow_at_ten) for order in orders))
    ann, bob = two_couriers
    assert [(m.courier_id, m.slot) for m in published("delivery", CourierReserved)] == [
        (ann.id, tomorrow_at_ten),
        (bob.id, tomorrow_at_ten),
        (ann.id, tomorrow_at_ten),
        (ann.id, tomorrow_at_ten + timedelta(hours=1)),
    ]
    assert_slots_consistent()
