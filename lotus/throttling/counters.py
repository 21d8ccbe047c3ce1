"""Counting a client's requests per fixed window in one statement, by the database's clock.

``INSERT … ON CONFLICT DO UPDATE … RETURNING`` adds the request and reads the count at once, so
concurrent requests of one client (in any process or pod of the service) never lose a count,
and web processes with skewed clocks still agree on the window. A window's count starts over
when the next window begins; the relay's housekeeping deletes counters whose window ended.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from django.db import connections

from lotus.throttling.models import ThrottleCounter

TABLE = ThrottleCounter._meta.db_table

#: Whole epoch seconds now, by the database's clock.
_NOW = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM clock_timestamp()))::bigint",
    "sqlite": "CAST(strftime('%%s', 'now') AS INTEGER)",
}


class Counted(NamedTuple):
    hits: int
    #: Seconds until the window ends and the count starts over.
    remaining: int


def count(alias: str, *, scope: str, ident: str, window: int) -> Counted:
    """Count one request of ``ident`` in ``scope`` (a window of ``window`` seconds) in the
    database ``alias``; return the requests counted in the current window, this one included."""
    connection = connections[alias]
    now = _NOW[connection.vendor]
    client = hashlib.sha256(f"{scope}\0{ident}".encode()).hexdigest()  # no email is stored
    start = f"({now} / %s * %s)"
    sql = (
        f"INSERT INTO {TABLE} (client, window_start, expires, hits) VALUES (%s, {start}, {start} + %s, 1) "
        f"ON CONFLICT (client) DO UPDATE SET "
        f"hits = CASE WHEN {TABLE}.window_start = excluded.window_start THEN {TABLE}.hits + 1 ELSE 1 END, "
        f"window_start = excluded.window_start, expires = excluded.expires "
        f"RETURNING hits, expires - {now}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [client, window, window, window, window, window])
        counted, remaining = cursor.fetchone()
    return Counted(hits=counted, remaining=max(int(remaining), 1))


def prune(alias: str) -> int:
    """Delete the counters whose window has ended (they would start over anyway); return how many."""
    now = _NOW[connections[alias].vendor]
    with connections[alias].cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE expires < {now}".replace("%%", "%"))
        return cursor.rowcount
