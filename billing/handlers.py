"""What the billing service reacts to."""

from lotus.contracts.diagnostics import Ping
from lotus.messaging.diagnostics import record_ping
from lotus.messaging.registry import Handlers

REGISTRY = Handlers(
    {
        Ping: record_ping,
    }
)
