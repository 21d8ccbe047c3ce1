"""Deposits, charges and refunds on the real database, with the ledger checked after each test."""

import uuid
from decimal import Decimal

import pytest

from billing.models import Account, Charge, LedgerEntry
from billing.services import account_deposit, charge_order, charge_refund
from lotus.contracts.billing import PaymentFailed, PaymentRefunded, PaymentTaken
from lotus.testing import published

pytestmark = pytest.mark.django_db(databases="__all__")
D = Decimal


@pytest.fixture(autouse=True)
def books(assert_books):
    yield
    assert_books()


def balance(customer=1):
    return Account.objects.get(customer_id=customer).balance


def test_a_deposit_adds_to_the_balance(in_uow):
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    in_uow(account_deposit, customer_id=1, amount=D("0.50"))
    assert balance() == D("1000.50")


def test_a_charge_that_fits_is_paid_at_once(in_uow):
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    order = uuid.uuid4()
    charge = in_uow(charge_order, order_id=order, customer_id=1, amount=D("300"))
    assert charge.status == "paid"
    assert balance() == D("700")
    assert published("billing") == [PaymentTaken(order_id=order, customer_id=1, amount=D("300"))]


def test_a_charge_that_does_not_fit_waits_and_tells_the_shortfall(in_uow):
    in_uow(account_deposit, customer_id=1, amount=D("100"))
    order = uuid.uuid4()
    assert in_uow(charge_order, order_id=order, customer_id=1, amount=D("300")).status == "waiting"
    assert balance() == D("100")
    assert published("billing") == [PaymentFailed(order_id=order, customer_id=1, amount=D("300"), shortfall=D("200"))]


def test_a_top_up_settles_waiting_charges_oldest_first_and_stops_at_the_first_that_does_not_fit(in_uow):
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    in_uow(charge_order, order_id=first, customer_id=1, amount=D("300"))
    in_uow(charge_order, order_id=second, customer_id=1, amount=D("700"))
    in_uow(charge_order, order_id=third, customer_id=1, amount=D("100"))
    _, settled = in_uow(account_deposit, customer_id=1, amount=D("900"))
    assert [c.order_id for c in settled] == [first]  # the 700 waits, and the 100 behind it waits too
    assert balance() == D("600")
    _, settled = in_uow(account_deposit, customer_id=1, amount=D("200"))
    assert [c.order_id for c in settled] == [second, third]
    assert balance() == D("0")
    assert [m.order_id for m in published("billing", PaymentTaken)] == [first, second, third]


def test_a_new_charge_does_not_overtake_a_waiting_one(in_uow):
    waiting, later = uuid.uuid4(), uuid.uuid4()
    in_uow(account_deposit, customer_id=1, amount=D("200"))
    in_uow(charge_order, order_id=waiting, customer_id=1, amount=D("300"))
    assert in_uow(charge_order, order_id=later, customer_id=1, amount=D("100")).status == "waiting"
    failed = published("billing", PaymentFailed)[-1]
    assert failed.shortfall == D("200")  # 300 waiting before it + 100 - 200 on hand


def test_charging_an_order_twice_charges_once(in_uow):
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    order = uuid.uuid4()
    in_uow(charge_order, order_id=order, customer_id=1, amount=D("300"))
    in_uow(charge_order, order_id=order, customer_id=1, amount=D("300"))
    assert balance() == D("700")
    assert len(published("billing", PaymentTaken)) == 1


def test_refunding_a_paid_charge_gives_the_money_back_once_and_confirms_every_time_it_is_asked(in_uow):
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    order = uuid.uuid4()
    in_uow(charge_order, order_id=order, customer_id=1, amount=D("300"))
    in_uow(charge_refund, order_id=order, customer_id=1)
    in_uow(charge_refund, order_id=order, customer_id=1)  # asked again: the first confirmation was lost
    assert balance() == D("1000")
    assert LedgerEntry.objects.filter(order_id=order, kind="refund").count() == 1
    assert Charge.objects.get(order_id=order).status == "refunded"
    assert (
        published("billing", PaymentRefunded) == [PaymentRefunded(order_id=order, customer_id=1, amount=D("300"))] * 2
    )


def test_a_dropped_charge_asked_again_confirms_again_with_nothing_refunded(in_uow):
    order = uuid.uuid4()
    in_uow(charge_order, order_id=order, customer_id=1, amount=D("300"))
    in_uow(charge_refund, order_id=order, customer_id=1)
    in_uow(charge_refund, order_id=order, customer_id=1)
    assert Charge.objects.get(order_id=order).status == "dropped"
    assert published("billing", PaymentRefunded) == [PaymentRefunded(order_id=order, customer_id=1, amount=D("0"))] * 2
    assert not LedgerEntry.objects.filter(order_id=order).exists()


def test_refunding_a_waiting_charge_drops_it_so_a_top_up_does_not_take_it(in_uow):
    order = uuid.uuid4()
    in_uow(charge_order, order_id=order, customer_id=1, amount=D("300"))
    in_uow(charge_refund, order_id=order, customer_id=1)
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    assert balance() == D("1000")
    assert Charge.objects.get(order_id=order).status == "dropped"
    assert published("billing", PaymentRefunded)[0].amount == 0


def test_a_refund_that_arrives_before_its_charge_keeps_the_charge_from_ever_being_taken(in_uow):
    order = uuid.uuid4()
    in_uow(account_deposit, customer_id=1, amount=D("1000"))
    in_uow(charge_refund, order_id=order, customer_id=1)
    in_uow(charge_order, order_id=order, customer_id=1, amount=D("300"))
    assert balance() == D("1000")
    assert published("billing", PaymentTaken) == []
    assert published("billing", PaymentRefunded) == [PaymentRefunded(order_id=order, customer_id=1, amount=D("0"))]
