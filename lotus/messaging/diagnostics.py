"""The handler every service registers for :class:`lotus.contracts.diagnostics.Ping`.

Applying a ping has no effect beyond the inbox record the consumer writes for it, which
is exactly what a round-trip check looks for.
"""

import logging

from lotus.contracts.diagnostics import Ping
from lotus.messaging.registry import Context

log = logging.getLogger(__name__)


def record_ping(message: Ping, context: Context) -> None:
    log.info("%s received ping %s (%s)", context.service, context.message_id, message.note)
