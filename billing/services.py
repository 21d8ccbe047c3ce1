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
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.utils import timezone

from billing.models import Account, Charge, LedgerEntry
from lotus.conf import lotus_settings
from lotus.contracts import Message
from lotus.contracts.billing import PaymentFailed, PaymentRefunded, PaymentTaken
from lotus.db import insert_unless_present, locked, select, update, waited_longer_than
from lotus.messaging.outbox import publish
from lotus.messaging.registry import unit_of_work
from lotus.topology import alias_for

ALIAS = alias_for("billing")
log = logging.getLogger(__name__)


def account_get_or_create(*, customer_id: int) -> Account:
    account, _ = Account.objects.get_or_create(customer_id=customer_id)
    return account


def account_deposit(*, customer_id: int, amount: Decimal) -> tuple[Account, list[Charge]]:
    """Add money, then settle the customer's waiting charges oldest first while it suffices.

    Returns the account and the charges this deposit paid.
    """
    if amount <= 0:
        raise ValueError("a deposit must be positive")
    with unit_of_work("billing"):
        account = _locked_account(customer_id)
        account.post(LedgerEntry.Kind.DEPOSIT, amount)
        settled = []
        no_longer_holds = _no_longer_holds()
        for charge in account.charges.select_for_update().filter(status=Charge.Status.WAITING).order_by("id"):
            if account.can_pay(charge.amount):
                _pay(account, charge)
                settled.append(charge)
            elif not no_longer_holds(charge):
                break  # oldest first: a later, smaller charge does not jump a charge that still holds
        account.save(update_fields=["balance"])
        return account, settled


def charge_order(
    *, order_id: uuid.UUID, customer_id: int, amount: Decimal, causation_id: uuid.UUID | None = None
) -> Charge:
    """Charge the order once: paid now, or waiting for a top-up (the customer is told the shortfall).

    Idempotent per order: a charge that exists (even one dropped by an earlier cancel) is returned as is.
    """
    with unit_of_work("billing"):
        account = _locked_account(customer_id)
        waiting = select(Charge, using=ALIAS, account_id=account.pk, status=Charge.Status.WAITING)
        no_longer_holds = _no_longer_holds()
        pays_now = account.can_pay(amount) and all(no_longer_holds(charge) for charge in waiting)
        charge = Charge(
            order_id=order_id,
            account=account,
            amount=amount,
            status=Charge.Status.PAID if pays_now else Charge.Status.WAITING,
        )
        if not insert_unless_present(charge, unique_fields=("order_id",), using=ALIAS):
            existing = Charge.objects.get(order_id=order_id)
            log.info("order %s is already charged (%s): ignored", order_id, existing.status)
            return existing
        if pays_now:
            account.post(LedgerEntry.Kind.CHARGE, -amount, order_id)
            update(account, ["balance"], using=ALIAS)
            _publish(PaymentTaken(order_id=order_id, customer_id=customer_id, amount=amount), order_id, causation_id)
        else:
            shortfall = max(
                amount + sum((charge.amount for charge in waiting), Decimal("0")) - account.balance, Decimal("0.01")
            )
            _publish(
                PaymentFailed(order_id=order_id, customer_id=customer_id, amount=amount, shortfall=shortfall),
                order_id,
                causation_id,
            )
        return charge


def charge_refund(*, order_id: uuid.UUID, customer_id: int, causation_id: uuid.UUID | None = None) -> Charge:
    """Compensate the order's charge: refund it if paid, drop it if waiting, or, if the charge
    has not arrived yet, leave a dropped charge so that it never will be taken.

    Idempotent and answering: a charge already refunded or dropped moves no money, and the
    confirmation is published again (a saga that asks again lost the first one; orders ignores
    a confirmation it no longer waits for)."""
    with unit_of_work("billing"):
        account = _locked_account(customer_id)
        charge = Charge.objects.select_for_update().filter(order_id=order_id).first()
        refunded = Decimal("0")
        if charge is None:
            charge = Charge.objects.create(order_id=order_id, account=account, amount=0, status=Charge.Status.DROPPED)
        elif charge.status == Charge.Status.PAID:
            account.post(LedgerEntry.Kind.REFUND, charge.amount, order_id)
            account.save(update_fields=["balance"])
            refunded = charge.amount
            _set_status(charge, Charge.Status.REFUNDED)
        elif charge.status == Charge.Status.WAITING:
            _set_status(charge, Charge.Status.DROPPED)
        else:
            log.info("order %s is already %s: confirmed again", order_id, charge.status)
            refunded = charge.amount if charge.status == Charge.Status.REFUNDED else Decimal("0")
        _publish(PaymentRefunded(order_id=order_id, customer_id=customer_id, amount=refunded), order_id, causation_id)
        return charge


def _no_longer_holds() -> Callable[[Charge], bool]:
    """Whether a waiting charge has waited past the hold time, so that later ones may pass it."""
    waited = waited_longer_than(lotus_settings.QUEUE["HOLD_SECONDS"], using=ALIAS)
    return lambda charge: waited(charge.created_at)


def _pay(account: Account, charge: Charge, causation_id: uuid.UUID | None = None) -> None:
    account.post(LedgerEntry.Kind.CHARGE, -charge.amount, charge.order_id)
    _set_status(charge, Charge.Status.PAID)
    event = PaymentTaken(order_id=charge.order_id, customer_id=account.customer_id, amount=charge.amount)
    _publish(event, charge.order_id, causation_id)


def _set_status(charge: Charge, status: str) -> None:
    charge.status = status
    charge.updated_at = timezone.now()
    charge.save(update_fields=["status", "updated_at"])


def _locked_account(customer_id: int) -> Account:
    account = locked(Account, using=ALIAS, customer_id=customer_id)
    if account is None:
        Account.objects.bulk_create([Account(customer_id=customer_id)], ignore_conflicts=True)
        account = Account.objects.select_for_update().get(customer_id=customer_id)
    return account


def _publish(message: Message, order_id: uuid.UUID, causation_id: uuid.UUID | None) -> None:
    publish(message, service="billing", correlation_id=order_id, causation_id=causation_id)
