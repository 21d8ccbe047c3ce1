"""The handler every service registers for :class:`lotus.contracts.diagnostics.Ping`.

Applying a ping has no effect beyond the inbox record the consumer writes for it, which
is exactly what a round-trip check looks for.
"""

import logging

from lotus.contracts.diagnostics import Ping
from lotus.messaging.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def record_ping(message: Ping, uow: UnitOfWork) -> None:
    log.info("%s received ping %s (%s)", uow.service, uow.cause.id, message.note)
