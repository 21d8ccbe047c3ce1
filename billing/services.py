"""Writes of the billing service: deposits, charges and refunds, always in balance.

Every write locks the customer's :class:`Account` row first, so concurrent top-ups and
charges of one customer are serialised and the balance can never go negative.

Queue policy: waiting charges form a first-come queue per account. A new charge does not
overtake an older waiting one, and a top-up settles them oldest first, in the same transaction
as the deposit. But a charge that has waited longer than ``LOTUS_QUEUE_HOLD_SECONDS`` (by the
database's clock; 0: forever) no longer holds back the ones behind it: they are paid before it
when they fit and it does not. It stays in the queue and is still paid, oldest first, once the
balance covers it, unless a compensation drops it first. So one order that is stuck (its
cancellation's refund dead-lettered, or a charge too large to ever be paid) cannot stall every
later order of its customer.

Commands are checked like requests: a charge or a refund that contradicts the order's charge
billing holds (another account's, another amount) is refused with
:class:`~lotus.messaging.registry.MessageRejected` and nothing moves: a refund credits only the
account that paid the charge, with the amount it paid.

Every service takes the caller's :class:`~lotus.messaging.unit_of_work.UnitOfWork`: the API
view or the consumer owns the transaction, and what a service sends goes out with its writes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.utils import timezone

from billing.models import Account, Charge, LedgerEntry
from lotus.conf import lotus_settings
from lotus.contracts.billing import PaymentFailed, PaymentRefunded, PaymentTaken
from lotus.errors import LotusError
from lotus.messaging.registry import MessageRejected
from lotus.messaging.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def account_get_or_create(*, uow: UnitOfWork, customer_id: int) -> Account:
    account = Account(customer_id=customer_id)
    if not uow.insert_unless_present(account, unique_fields=("customer_id",)):
        account = uow.get(Account, customer_id=customer_id)
    return account


def account_deposit(*, uow: UnitOfWork, customer_id: int, amount: Decimal) -> tuple[Account, list[Charge]]:
    """Add money, then settle the customer's waiting charges oldest first while it suffices.

    Returns the account and the charges this deposit paid. The ledger entries are written at
    once: the top-up answers with the ledger, read in the same transaction.
    """
    if amount <= 0:
        raise ValueError("a deposit must be positive")
    account = _locked_account(uow, customer_id)
    ceiling = lotus_settings.BILLING["MAX_BALANCE"]
    if account.balance + amount > ceiling:
        raise LotusError(
            f"A balance may not exceed {ceiling}: this top-up of {amount} would take it from {account.balance} "
            f"to {account.balance + amount}.",
            details={"money": [f"At most {max(ceiling - account.balance, 0)} can be added now."]},
        )
    entries = [account.post(LedgerEntry.Kind.DEPOSIT, amount)]
    settled = []
    no_longer_holds = _no_longer_holds(uow)
    waiting = uow.select(Charge, for_update=True, order_by=("id",), account_id=account.pk, status=Charge.Status.WAITING)
    for charge in waiting:
        if account.can_pay(charge.amount):
            entries.append(_pay(uow, account, charge))
            settled.append(charge)
        elif not no_longer_holds(charge):
            break  # oldest first: a later, smaller charge does not jump a charge that still holds
    uow.update(account, ["balance"])
    uow.insert(*entries)
    return account, settled


def charge_order(*, uow: UnitOfWork, order_id: uuid.UUID, customer_id: int, amount: Decimal) -> Charge:
    """Charge the order once: paid now, or waiting for a top-up (the customer is told the shortfall).

    Idempotent per order: a charge that exists (even one dropped by an earlier cancel) is returned
    as is, if it is this customer's and for this amount; :class:`MessageRejected` otherwise.
    """
    account = _locked_account(uow, customer_id)
    waiting = uow.select(Charge, account_id=account.pk, status=Charge.Status.WAITING)
    no_longer_holds = _no_longer_holds(uow)
    pays_now = account.can_pay(amount) and all(no_longer_holds(charge) for charge in waiting)
    charge = Charge(
        order_id=order_id,
        account=account,
        amount=amount,
        status=Charge.Status.PAID if pays_now else Charge.Status.WAITING,
    )
    if not uow.insert_unless_present(charge, unique_fields=("order_id",)):
        existing = uow.get(Charge, order_id=order_id)
        _owned_by(existing, account, "ChargeOrder")
        # A charge dropped before its ChargeOrder arrived (the refund came first) is empty.
        if existing.amount != amount and not (existing.status == Charge.Status.DROPPED and not existing.amount):
            raise MessageRejected(f"ChargeOrder for order {order_id} asks {amount}; its charge is of {existing.amount}")
        log.info("order %s is already charged (%s): ignored", order_id, existing.status)
        return existing
    if pays_now:
        uow.add(account.post(LedgerEntry.Kind.CHARGE, -amount, order_id))
        uow.update(account, ["balance"])
        uow.send(PaymentTaken(order_id=order_id, customer_id=customer_id, amount=amount))
    else:
        shortfall = max(
            amount + sum((charge.amount for charge in waiting), Decimal("0")) - account.balance, Decimal("0.01")
        )
        uow.send(PaymentFailed(order_id=order_id, customer_id=customer_id, amount=amount, shortfall=shortfall))
    return charge


def charge_refund(*, uow: UnitOfWork, order_id: uuid.UUID, customer_id: int) -> Charge:
    """Compensate the order's charge: refund it if paid, drop it if waiting, or, if the charge
    has not arrived yet, leave a dropped charge so that it never will be taken.

    Idempotent and answering: a charge already refunded or dropped moves no money, and the
    confirmation is sent again (a saga that asks again lost the first one; orders ignores
    a confirmation it no longer waits for).

    Only the account that the charge belongs to is credited, with what it paid: a refund that
    names another customer is :class:`MessageRejected`, and nothing moves."""
    account = _locked_account(uow, customer_id)
    charge = uow.locked(Charge, order_id=order_id)
    if charge is not None:
        _owned_by(charge, account, "RefundOrder")
    refunded = Decimal("0")
    if charge is None:
        # Written now: a charge of the order later in the same batch must find it.
        charge = Charge(order_id=order_id, account=account, amount=0, status=Charge.Status.DROPPED)
        uow.insert(charge)
    elif charge.status == Charge.Status.PAID:
        uow.add(account.post(LedgerEntry.Kind.REFUND, charge.amount, order_id))
        uow.update(account, ["balance"])
        refunded = charge.amount
        _set_status(uow, charge, Charge.Status.REFUNDED)
    elif charge.status == Charge.Status.WAITING:
        _set_status(uow, charge, Charge.Status.DROPPED)
    else:
        log.info("order %s is already %s: confirmed again", order_id, charge.status)
        refunded = charge.amount if charge.status == Charge.Status.REFUNDED else Decimal("0")
    uow.send(PaymentRefunded(order_id=order_id, customer_id=customer_id, amount=refunded))
    return charge


def _owned_by(charge: Charge, account: Account, command: str) -> None:
    if charge.account_id != account.pk:
        raise MessageRejected(
            f"{command} for order {charge.order_id} names customer {account.customer_id}, "
            "whose account did not make the order's charge"
        )


def _no_longer_holds(uow: UnitOfWork) -> Callable[[Charge], bool]:
    """Whether a waiting charge has waited past the hold time, so that later ones may pass it."""
    waited = uow.waited_longer_than(lotus_settings.QUEUE["HOLD_SECONDS"])
    return lambda charge: waited(charge.created_at)


def _pay(uow: UnitOfWork, account: Account, charge: Charge) -> LedgerEntry:
    """Pay a waiting charge from the locked account; the caller saves the account and the entry returned."""
    entry = account.post(LedgerEntry.Kind.CHARGE, -charge.amount, charge.order_id)
    _set_status(uow, charge, Charge.Status.PAID)
    uow.send(PaymentTaken(order_id=charge.order_id, customer_id=account.customer_id, amount=charge.amount))
    return entry


def _set_status(uow: UnitOfWork, charge: Charge, status: str) -> None:
    charge.status = status
    charge.updated_at = timezone.now()
    uow.update(charge, ["status", "updated_at"])


def _locked_account(uow: UnitOfWork, customer_id: int) -> Account:
    account = uow.locked(Account, customer_id=customer_id)
    if account is None:
        # ON CONFLICT DO NOTHING: two first writes for a new customer must not collide.
        uow.insert_unless_present(Account(customer_id=customer_id), unique_fields=("customer_id",))
        account = uow.locked(Account, customer_id=customer_id)
    return account
