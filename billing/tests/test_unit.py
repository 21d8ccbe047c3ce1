"""Billing's handlers and services on a fake unit of work: no database, only what they write
and send."""

import uuid
from decimal import Decimal

import pytest

from billing import handlers
from billing.models import Account, Charge, LedgerEntry
from billing.services import account_deposit
from lotus.contracts.billing import ChargeOrder, PaymentFailed, PaymentRefunded, PaymentTaken, RefundOrder
from lotus.contracts.profiles import UserRegistered
from lotus.messaging.registry import MessageRejected
from lotus.testing import FakeUnitOfWork

D = Decimal


def account(balance: str, customer_id: int = 1) -> Account:
    return Account(pk=customer_id, customer_id=customer_id, balance=D(balance))


def entries(rows) -> list[tuple[str, Decimal, uuid.UUID | None]]:
    return [(row.kind, row.amount, row.order_id) for row in rows if isinstance(row, LedgerEntry)]


def test_a_charge_that_fits_is_paid_with_a_ledger_entry_and_payment_taken():
    books = account("1000")
    uow = FakeUnitOfWork("billing", rows=[books])
    order = uuid.uuid4()
    handlers.handle_charge_order(ChargeOrder(order_id=order, customer_id=1, amount=D("300")), uow)
    assert uow.sent == [PaymentTaken(order_id=order, customer_id=1, amount=D("300"))]
    assert entries(uow.added) == [("charge", D("-300"), order)]
    assert books.balance == D("700")
    assert (books, ["balance"]) in uow.updated
    assert uow.get(Charge, order_id=order).status == "paid"


def test_a_charge_that_does_not_fit_waits_and_tells_the_shortfall_counting_the_queue():
    waiting = Charge(order_id=uuid.uuid4(), account_id=1, amount=D("50"), status="waiting")
    uow = FakeUnitOfWork("billing", rows=[account("100"), waiting])
    order = uuid.uuid4()
    handlers.handle_charge_order(ChargeOrder(order_id=order, customer_id=1, amount=D("80")), uow)
    assert uow.sent == [PaymentFailed(order_id=order, customer_id=1, amount=D("80"), shortfall=D("30"))]
    assert uow.added == []
    assert uow.get(Charge, order_id=order).status == "waiting"


def test_a_waiting_charge_past_the_hold_time_is_passed(lotus_setting):
    lotus_setting("QUEUE", HOLD_SECONDS=600)
    stuck = Charge(order_id=uuid.uuid4(), account_id=1, amount=D("5000"), status="waiting")
    uow = FakeUnitOfWork("billing", rows=[account("100"), stuck], waited=True)
    order = uuid.uuid4()
    handlers.handle_charge_order(ChargeOrder(order_id=order, customer_id=1, amount=D("80")), uow)
    assert uow.sent == [PaymentTaken(order_id=order, customer_id=1, amount=D("80"))]


def test_a_charge_of_an_order_charged_before_sends_nothing():
    order = uuid.uuid4()
    dropped = Charge(order_id=order, account_id=1, amount=D("0"), status="dropped")
    uow = FakeUnitOfWork("billing", rows=[account("1000"), dropped])
    handlers.handle_charge_order(ChargeOrder(order_id=order, customer_id=1, amount=D("300")), uow)
    assert (uow.sent, uow.added, dropped.status) == ([], [], "dropped")


def test_a_first_charge_of_a_new_customer_opens_the_account():
    uow = FakeUnitOfWork("billing")
    order = uuid.uuid4()
    handlers.handle_charge_order(ChargeOrder(order_id=order, customer_id=7, amount=D("10")), uow)
    assert uow.get(Account, customer_id=7).balance == 0
    assert uow.sent == [PaymentFailed(order_id=order, customer_id=7, amount=D("10"), shortfall=D("10"))]


def test_refunding_a_paid_charge_gives_the_money_back_and_confirms():
    books = account("700")
    order = uuid.uuid4()
    paid = Charge(order_id=order, account_id=1, amount=D("300"), status="paid")
    uow = FakeUnitOfWork("billing", rows=[books, paid])
    handlers.handle_refund_order(RefundOrder(order_id=order, customer_id=1), uow)
    assert uow.sent == [PaymentRefunded(order_id=order, customer_id=1, amount=D("300"))]
    assert entries(uow.added) == [("refund", D("300"), order)]
    assert (books.balance, paid.status) == (D("1000"), "refunded")


def test_refunding_a_waiting_charge_drops_it_and_moves_no_money():
    order = uuid.uuid4()
    waiting = Charge(order_id=order, account_id=1, amount=D("300"), status="waiting")
    uow = FakeUnitOfWork("billing", rows=[account("100"), waiting])
    handlers.handle_refund_order(RefundOrder(order_id=order, customer_id=1), uow)
    assert uow.sent == [PaymentRefunded(order_id=order, customer_id=1, amount=D("0"))]
    assert (uow.added, waiting.status) == ([], "dropped")


def test_a_refund_before_its_charge_leaves_a_dropped_charge_written_at_once():
    uow = FakeUnitOfWork("billing", rows=[account("100")])
    order = uuid.uuid4()
    handlers.handle_refund_order(RefundOrder(order_id=order, customer_id=1), uow)
    assert uow.sent == [PaymentRefunded(order_id=order, customer_id=1, amount=D("0"))]
    assert uow.get(Charge, order_id=order).status == "dropped"
    assert uow.added == []  # inserted, not added: a charge later in the same batch must see it


def test_a_refund_asked_again_confirms_again_with_what_was_refunded():
    order = uuid.uuid4()
    refunded = Charge(order_id=order, account_id=1, amount=D("300"), status="refunded")
    uow = FakeUnitOfWork("billing", rows=[account("1000"), refunded])
    handlers.handle_refund_order(RefundOrder(order_id=order, customer_id=1), uow)
    assert uow.sent == [PaymentRefunded(order_id=order, customer_id=1, amount=D("300"))]
    assert uow.added == []


@pytest.mark.parametrize("status", ["paid", "waiting", "refunded", "dropped"])
@pytest.mark.parametrize("claimed", [2, 3], ids=["another account", "no account yet"])
def test_a_refund_that_names_another_customer_than_the_charges_is_rejected_and_moves_nothing(status, claimed):
    payer, other = account("700", customer_id=1), account("50", customer_id=2)
    order = uuid.uuid4()
    charge = Charge(order_id=order, account_id=1, amount=D("300"), status=status)
    uow = FakeUnitOfWork("billing", rows=[payer, other, charge])
    with pytest.raises(MessageRejected, match="did not make the order's charge"):
        handlers.handle_refund_order(RefundOrder(order_id=order, customer_id=claimed), uow)
    assert (payer.balance, other.balance, charge.status) == (D("700"), D("50"), status)
    assert uow.sent == uow.added == []
    assert [row for row, _ in uow.updated if isinstance(row, (Account, Charge))] == []


@pytest.mark.parametrize(
    ("claimed", "amount", "why"),
    [(2, "300", "did not make the order's charge"), (1, "30", "its charge is of 300")],
    ids=["another customer", "another amount"],
)
def test_a_charge_of_a_charged_order_that_does_not_match_its_charge_is_rejected(claimed, amount, why):
    order = uuid.uuid4()
    paid = Charge(order_id=order, account_id=1, amount=D("300"), status="paid")
    books = account("700")
    uow = FakeUnitOfWork("billing", rows=[books, account("1000", customer_id=2), paid])
    with pytest.raises(MessageRejected, match=why):
        handlers.handle_charge_order(ChargeOrder(order_id=order, customer_id=claimed, amount=D(amount)), uow)
    assert (books.balance, paid.status, uow.sent, uow.added) == (D("700"), "paid", [], [])


def test_a_charge_of_an_order_charged_before_with_the_same_claims_is_ignored():
    order = uuid.uuid4()
    paid = Charge(order_id=order, account_id=1, amount=D("300"), status="paid")
    uow = FakeUnitOfWork("billing", rows=[account("700"), paid])
    assert handlers.handle_charge_order(ChargeOrder(order_id=order, customer_id=1, amount=D("300")), uow) is None
    assert (uow.sent, uow.added, paid.status) == ([], [], "paid")


def test_a_registered_user_gets_one_empty_account():
    uow = FakeUnitOfWork("billing")
    handlers.handle_user_registered(UserRegistered(customer_id=9, email="nine@lotus.test"), uow)
    handlers.handle_user_registered(UserRegistered(customer_id=9, email="nine@lotus.test"), uow)
    assert [(row.customer_id, row.balance) for row in uow.select(Account)] == [(9, 0)]
    assert uow.sent == []


def test_a_deposit_settles_waiting_charges_oldest_first_until_one_does_not_fit():
    books = account("0")
    first, second, third = (
        Charge(pk=pk, order_id=uuid.uuid4(), account_id=1, amount=D(amount), status="waiting")
        for pk, amount in ((1, "300"), (2, "700"), (3, "100"))
    )
    uow = FakeUnitOfWork("billing", rows=[books, third, second, first])
    _, settled = account_deposit(uow=uow, customer_id=1, amount=D("900"))
    assert settled == [first]
    assert uow.sent == [PaymentTaken(order_id=first.order_id, customer_id=1, amount=D("300"))]
    assert entries(uow.rows) == [("deposit", D("900"), None), ("charge", D("-300"), first.order_id)]
    assert uow.added == []  # inserted at once: the top-up answers with the ledger
    assert (books.balance, first.status, second.status, third.status) == (D("600"), "paid", "waiting", "waiting")
