"""Tuning of Lotus's long-running processes: web workers, relays and consumers.

:func:`settle_heap` is called once a process has loaded Django and the apps (the WSGI module,
the ``relay`` and ``consume`` commands). Such a process then makes many short-lived objects
per message or request and few reference cycles, while CPython's cyclic garbage collector
would keep walking the tens of thousands of objects made at start-up.
"""

from __future__ import annotations

import gc

#: Allocations between two young-generation collections (CPython's default is 700).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Freeze what start-up made (the collector no longer scans it) and collect the young
    generation less often; the older generations keep CPython's default ratios."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
