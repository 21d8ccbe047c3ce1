"""Fixtures of the orders tests: the catalog, and the steps of a saga as the service's
entrypoints run them (a unit of work each; replies through the real inbox and handler)."""

import pytest

from lotus.messaging.unit_of_work import UnitOfWork
from lotus.testing import deliver
from orders import services
from orders.handlers import REGISTRY
from orders.models import Order
from orders.seed import seed


@pytest.fixture
def catalog(db):
    seed()


@pytest.fixture
def place():
    """``place(customer_id=…, product_id=…)``: an order placed as the API places it."""

    def place(**arguments) -> Order:
        with UnitOfWork("orders") as uow:
            return services.order_place(uow=uow, **arguments)

    return place


@pytest.fixture
def cancel():
    """``cancel(order_id=…, customer_id=…)``: a cancellation as the API asks for it."""

    def cancel(**arguments) -> Order:
        with UnitOfWork("orders") as uow:
            return services.order_cancel(uow=uow, **arguments)

    return cancel


@pytest.fixture
def reply():
    """``reply(message)``: deliver a reply to orders as its consumer would; ``(outcome, envelope)``."""

    def reply(message):
        return deliver(message, to="orders", handlers=REGISTRY, correlation_id=str(message.order_id))

    return reply


@pytest.fixture
def status_of():
    def status_of(order: Order) -> str:
        return Order.objects.get(id=order.id).status

    return status_of
