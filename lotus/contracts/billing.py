"""Commands to and events of the billing service (``billing.commands``, ``billing.events``)."""

from decimal import Decimal
from uuid import UUID

from pydantic import Field

from lotus.contracts.base import Command, Event

Money = Field(max_digits=14, decimal_places=2, ge=0)


class ChargeOrder(Command, service="billing"):
    order_id: UUID
    customer_id: int
    amount: Decimal = Money


class RefundOrder(Command, service="billing"):
    """Give back what was charged for the order, or drop its waiting charge."""

    order_id: UUID
    customer_id: int


class PaymentTaken(Event, service="billing"):
    order_id: UUID
    customer_id: int
    amount: Decimal = Money


class PaymentFailed(Event, service="billing"):
    """Not enough money: the charge waits for a top-up of at least ``shortfall``."""

    order_id: UUID
    customer_id: int
    amount: Decimal = Money
    shortfall: Decimal = Money


class PaymentRefunded(Event, service="billing"):
    order_id: UUID
    customer_id: int
    amount: Decimal = Money
