"""The queue policy of waiting charges: first come, first paid, but a charge that has waited
past LOTUS_QUEUE_HOLD_SECONDS (a stuck order) no longer holds back the ones behind it."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Account, Charge
from billing.services import account_deposit, charge_order, charge_refund
from lotus.contracts.billing import PaymentTaken
from lotus.testing import published

pytestmark = pytest.mark.django_db(databases="__all__")
D = Decimal


@pytest.fixture(autouse=True)
def books(lotus_setting, assert_books):
    lotus_setting("QUEUE", HOLD_SECONDS=600)
    yield
    assert_books()


def balance() -> Decimal:
    return Account.objects.get(customer_id=1).balance


def status_of(order) -> str:
    return Charge.objects.get(order_id=order).status


def stuck_charge(in_uow, *, waited: timedelta) -> uuid.UUID:
    """A charge too large to be paid (its order's cancellation lost its refund, say), written
    ``waited`` ago."""
    stuck = uuid.uuid4()
    assert in_uow(charge_order, order_id=stuck, customer_id=1, amount=D("5000")).status == "waiting"
    Charge.objects.filter(order_id=stuck).update(created_at=timezone.now() - waited)
    return stuck


def test_within_the_hold_time_a_later_charge_that_fits_waits_behind_the_stuck_one(in_uow):
    stuck = stuck_charge(in_uow, waited=timedelta(seconds=590))
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    later = uuid.uuid4()
    assert in_uow(charge_order, order_id=later, customer_id=1, amount=D("300")).status == "waiting"
    _, settled = in_uow(account_deposit, customer_id=1, amount=D("1"))
    assert settled == []
    assert (status_of(stuck), status_of(later)) == ("waiting", "waiting")
    assert balance() == D("1001")


def test_past_the_hold_time_later_charges_pass_the_stuck_one_and_a_top_up_settles_them(in_uow):
    stuck = stuck_charge(in_uow, waited=timedelta(seconds=610))
    _, settled = in_uow(account_deposit, customer_id=1, amount=D("1000"))
    assert settled == []

    later = uuid.uuid4()
    assert in_uow(charge_order, order_id=later, customer_id=1, amount=D("300")).status == "paid"  # at once
    big, small = uuid.uuid4(), uuid.uuid4()
    assert in_uow(charge_order, order_id=big, customer_id=1, amount=D("900")).status == "waiting"
    # The 900 waits for a moment only: it holds the 100 behind it, which would fit.
    assert in_uow(charge_order, order_id=small, customer_id=1, amount=D("100")).status == "waiting"

    _, settled = in_uow(account_deposit, customer_id=1, amount=D("300"))
    assert [charge.order_id for charge in settled] == [big, small]
    assert balance() == D("0")
    assert status_of(stuck) == "waiting"

    _, settled = in_uow(account_deposit, customer_id=1, amount=D("5000"))  # still paid once it fits
    assert [charge.order_id for charge in settled] == [stuck]
    assert balance() == D("0")
    assert [m.order_id for m in published("billing", PaymentTaken)] == [later, big, small, stuck]


def test_a_stuck_charge_is_still_dropped_by_its_compensation_and_never_taken(in_uow):
    stuck = stuck_charge(in_uow, waited=timedelta(hours=1))
    in_uow(charge_refund, order_id=stuck, customer_id=1)
    in_uow(account_deposit, customer_id=1, amount=D("6000"))
    assert status_of(stuck) == "dropped"
    assert balance() == D("6000")


def test_a_hold_time_of_zero_keeps_the_queue_strictly_first_come(lotus_setting, in_uow):
    lotus_setting("QUEUE", HOLD_SECONDS=0)
    stuck_charge(in_uow, waited=timedelta(days=1))
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    assert in_uow(charge_order, order_id=uuid.uuid4(), customer_id=1, amount=D("300")).status == "waiting"
