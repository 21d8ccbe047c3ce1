"""What a long-running loop does when the database or the broker fails under it.

A relay, a consumer and the deadline checker run for days, and in that time PostgreSQL
restarts, a network drops, the broker goes away. None of that is the loop's fault and none of
it may end the process: the loop logs, waits a bounded and jittered while (so that a fleet of
workers does not stampede a database the moment it is back), drops its broken connections and
carries on. Only a stop request or a configuration error ends a worker.

Handling a message needs one more distinction: a lost connection says nothing about the
message and is retried without limit, while a statement that fails the same way every time
(a statement timeout, a lock not available, a value too large) is the message's own failure
and counts towards its dead letter (:func:`connection_lost`).
"""

from __future__ import annotations

import logging
import random
import sqlite3

import psycopg
from confluent_kafka import KafkaException
from django.db import Error as DatabaseError
from django.db import connections

log = logging.getLogger(__name__)

#: Failures of the database, the broker or the network: a loop survives these.
TRANSIENT = (DatabaseError, psycopg.Error, sqlite3.Error, OSError, KafkaException)

#: SQLSTATEs that mean the connection (not the statement) failed: the server shut down or
#: restarts, refuses connections for now, or has no slot left.
_CONNECTION_STATES = {"57P01", "57P02", "57P03", "53300"}


class Backoff:
    """Waits that double from ``first`` up to ``most`` seconds, each drawn between half and
    the whole of its step ("equal jitter"); :meth:`reset` after a success."""

    def __init__(self, first: float = 0.5, most: float = 30.0) -> None:
        self.first = first
        self.most = most
        self.failures = 0

    def next(self) -> float:
        step = min(self.most, self.first * 2**self.failures)
        self.failures += 1
        return random.uniform(step / 2, step)

    def reset(self) -> None:
        self.failures = 0


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (a database error, as Django or the driver raised it) means the
    connection is gone or the server is unavailable, rather than that the statement failed."""
    cause = exc.__cause__ if isinstance(exc, DatabaseError) and exc.__cause__ is not None else exc
    if isinstance(cause, psycopg.InterfaceError):
        return True
    if isinstance(cause, psycopg.OperationalError):
        state = cause.sqlstate
        return state is None or state.startswith("08") or state in _CONNECTION_STATES
    if isinstance(cause, sqlite3.OperationalError):
        return "locked" in str(cause) or "busy" in str(cause)
    # Django's own: "connection already closed", or a connection it found unusable.
    return type(exc).__name__ == "InterfaceError"


def reconnect() -> None:
    """Close this thread's database connections, broken or not: the next query opens fresh
    ones (a connection that survived an outage may still hold a half-dead socket)."""
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception as exc:  # noqa: BLE001 -- closing a dead connection may fail; it is gone either way
            log.debug("closing %s: %s", connection.alias, exc)
