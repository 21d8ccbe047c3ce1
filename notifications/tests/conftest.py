"""Fixtures of the notifications tests."""

import pytest

from lotus.messaging.unit_of_work import UnitOfWork
from notifications.services import notification_create


@pytest.fixture
def notify():
    """``notify(customer_id=…, order_id=…, event=…, message=…)``: :func:`notification_create`
    in a unit of work of its own, as a handler runs it."""

    def notify(**arguments):
        with UnitOfWork("notifications") as uow:
            return notification_create(uow=uow, **arguments)

    return notify
