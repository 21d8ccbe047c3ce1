"""Many bookers at once on the same slots: real threads, real PostgreSQL row locks, real commits."""

import uuid
from collections import Counter
from datetime import timedelta

import pytest

from delivery.models import Courier, DeliveryRequest, SlotBooking
from delivery.services import courier_release, courier_reserve, delivery_accept
from lotus.testing import run_together

HOUR = timedelta(hours=1)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("no_web_publishing"),
]


def test_forty_orders_racing_for_one_slot_never_overbook_it(tomorrow_at_ten, assert_slots_consistent, in_uow):
    ann = Courier.objects.create(name="Ann", capacity_per_slot=3)
    bob = Courier.objects.create(name="Bob", capacity_per_slot=2)
    orders = [uuid.uuid4() for _ in range(40)]

    # The slot's rows do not exist yet: the racers also race to create them.
    errors = run_together(
        [lambda o=o: in_uow(courier_reserve, order_id=o, product_id=1, slot=tomorrow_at_ten) for o in orders]
    )

    assert errors == []
    assert DeliveryRequest.objects.filter(status="reserved").count() == 40
    per_slot = Counter(DeliveryRequest.objects.values_list("slot", flat=True))
    # Five places an hour: the requested hour and the following ones fill up in turn.
    assert per_slot == {tomorrow_at_ten + n * HOUR: 5 for n in range(8)}
    assert SlotBooking.objects.get(courier=ann, slot=tomorrow_at_ten).booked == 3
    assert SlotBooking.objects.get(courier=bob, slot=tomorrow_at_ten).booked == 2
    assert_slots_consistent()


def test_bookings_releases_and_acceptances_at_once_keep_the_counts_true(
    tomorrow_at_ten, assert_slots_consistent, in_uow
):
    Courier.objects.create(name="Ann", capacity_per_slot=2)
    Courier.objects.create(name="Bob", capacity_per_slot=2)
    holders = [uuid.uuid4() for _ in range(4)]
    for order in holders:
        in_uow(courier_reserve, order_id=order, product_id=1, slot=tomorrow_at_ten)
    manual = [uuid.uuid4() for _ in range(6)]
    for order in manual:
        in_uow(courier_reserve, order_id=order, product_id=3, slot=tomorrow_at_ten, manual=True)
    newcomers = [uuid.uuid4() for _ in range(10)]

    jobs = [lambda o=o: in_uow(courier_release, order_id=o) for o in holders]
    jobs += [lambda o=o: in_uow(delivery_accept, order_id=o) for o in manual]
    jobs += [lambda o=o: in_uow(courier_reserve, order_id=o, product_id=1, slot=tomorrow_at_ten) for o in newcomers]
    errors = run_together(jobs)

    assert errors == []
    assert DeliveryRequest.objects.filter(order_id__in=manual + newcomers, status="reserved").count() == 16
    assert DeliveryRequest.objects.filter(order_id__in=holders, status="released").count() == 4
    assert max(SlotBooking.objects.values_list("booked", flat=True)) <= 2
    assert_slots_consistent()


def test_a_release_racing_its_own_reservation_leaves_no_booking_behind(
    tomorrow_at_ten, assert_slots_consistent, in_uow
):
    Courier.objects.create(name="Ann", capacity_per_slot=50)
    orders = [uuid.uuid4() for _ in range(15)]
    jobs = []
    for order in orders:
        jobs.append(lambda o=order: in_uow(courier_reserve, order_id=o, product_id=1, slot=tomorrow_at_ten))
        jobs.append(lambda o=order: in_uow(courier_release, order_id=o))

    errors = run_together(jobs)

    assert errors == []
    assert DeliveryRequest.objects.filter(order_id__in=orders, status="released").count() == 15
    assert sum(SlotBooking.objects.values_list("booked", flat=True)) == 0
    assert_slots_consistent()
