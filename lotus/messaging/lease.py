"""A lease: one replica at a time does a job (the relay publishing a database's outbox), and
another takes over within a bounded time when that one dies, freezes or loses its network.

The lease is a row (name, holder, expiry) in the database it guards, and only the database's
clock sets and checks the expiry, so no two hosts' clocks are ever compared. The holder renews
it while it works; a standby takes it once it has expired. An advisory lock or a connection
could not do this: a frozen process (SIGSTOP, a paused VM) keeps its connection and its lock
for as long as it is frozen.

The holder also keeps a local deadline on the monotonic clock, measured from *before* it asked
for the lease, so that it ends no later than the database's. :meth:`Lease.hold` compares the
two before every batch: while half the lease is left it costs nothing; after that it renews,
and raises :class:`LeaseLost` when the lease went to another replica meanwhile, so a leader that
thaws after its lease expired stops before its next batch instead of publishing beside the new
one. (A batch already in hand when the freeze began may still go out: its rows are then
produced twice, which consumers drop by message id.)
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from django.db import connections

from lotus.db import DatabaseNow
from lotus.messaging.models import Lease as LeaseRow

TABLE = LeaseRow._meta.db_table


class LeaseLost(Exception):
    """Another replica holds the lease now."""


class Lease:
    """The lease ``name`` in the database ``alias``, valid ``seconds`` after each renewal."""

    def __init__(self, alias: str, name: str, *, seconds: float) -> None:
        self.alias = alias
        self.name = name
        self.seconds = seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._valid_until = 0.0  # monotonic

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if this replica holds it."""
        asked = time.monotonic()
        connection = connections[self.alias]
        expiry, expiry_params = DatabaseNow(self.seconds).as_sql(connection)
        now, now_params = DatabaseNow().as_sql(connection)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (name, holder, expires_at) VALUES (%s, %s, {expiry}) "
                f"ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                f"WHERE {TABLE}.holder = excluded.holder OR {TABLE}.expires_at < {now} RETURNING holder",
                [self.name, self.holder, *expiry_params, *now_params],
            )
            held = cursor.fetchone() is not None
        self._valid_until = asked + self.seconds if held else 0.0
        return held

    def hold(self) -> None:
        """Before each batch: make sure the lease is still this replica's (see the module
        docstring); raise :class:`LeaseLost` if it is not."""
        if self.renew_in() > 0:
            return
        if not self.acquire():
            raise LeaseLost(f"lease {self.name!r} is held by another replica")

    def renew_in(self) -> float:
        """Seconds until :meth:`hold` will renew (0 when it will now)."""
        return max(0.0, self._valid_until - self.seconds / 2 - time.monotonic())

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so a standby need not wait for its expiry."""
        self._valid_until = 0.0
        with connections[self.alias].cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE name = %s AND holder = %s", [self.name, self.holder])
