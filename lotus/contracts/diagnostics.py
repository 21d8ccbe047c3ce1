"""Diagnostic messages that every service may receive (topic ``diagnostics.commands``)."""

from lotus.contracts.base import Command


class Ping(Command, service="diagnostics"):
    """Proves the path outbox → relay → Kafka → consumer; handlers only record it."""

    key_field = None

    note: str = ""
