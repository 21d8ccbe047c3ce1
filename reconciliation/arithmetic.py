"""The arithmetic of the books, on plain values: shared by the reconciliation checks (which read
the rows with the ORM) and the chaos suite's invariants (which read them with SQL of their own, so
that what reads them does not share a bug with the code that wrote them).

Each function returns ``(row, problem)`` pairs, or problems, empty when the books balance. No
Django here: the chaos suite imports it without settings.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from decimal import Decimal

RESERVED = "reserved"


def ledger_problems(balance: Decimal, ledger_sum: Decimal) -> list[str]:
    """An account's balance must be what its ledger sums to, and never negative."""
    problems = []
    if ledger_sum != balance:
        problems.append(f"ledger sums to {ledger_sum}, balance {balance}")
    if balance < 0:
        problems.append(f"balance {balance} is negative")
    return problems


def stock_problems(
    items: Iterable[tuple[int, int, int, int]], reservations: Iterable[tuple[int | None, int, str]]
) -> list[tuple[str, str]]:
    """``items``: (product, on hand, reserved, received); ``reservations``: (product, quantity, status).
    Received = on hand + reserved, and reserved = what the ``reserved`` reservations hold."""
    held: dict[int | None, int] = defaultdict(int)
    for product, quantity, status in reservations:
        if status == RESERVED:
            held[product] += quantity
    problems = []
    known = set()
    for product, on_hand, reserved, received in items:
        known.add(product)
        row = f"product {product}"
        if on_hand + reserved != received:
            problems.append((row, f"{on_hand} on hand + {reserved} reserved != {received} received"))
        if reserved != held[product]:
            problems.append((row, f"{reserved} reserved, reservations hold {held[product]}"))
    problems += [
        (f"product {product}", f"reservations hold {count} of a product without stock")
        for product, count in held.items()
        if product not in known and count
    ]
    return problems


def slot_problems(
    bookings: Iterable[tuple[int, Hashable, int]],
    requests: Iterable[tuple[int | None, Hashable, str]],
    capacities: Mapping[int, int],
) -> list[tuple[str, str]]:
    """``bookings``: (courier, slot, booked); ``requests``: (courier, slot, status). Each slot's
    counter = the ``reserved`` requests holding it, within the courier's capacity."""
    taken: Counter[tuple[int | None, Hashable]] = Counter(
        (courier, slot) for courier, slot, status in requests if status == RESERVED
    )
    problems = []
    booked_slots = set()
    for courier, slot, booked in bookings:
        booked_slots.add((courier, slot))
        row = f"courier {courier} at {slot}"
        if booked != taken[(courier, slot)]:
            problems.append((row, f"{booked} booked, {taken[(courier, slot)]} requests hold it"))
        if booked > capacities.get(courier, 0):
            problems.append((row, f"{booked} booked over capacity {capacities.get(courier)}"))
    problems += [
        (f"courier {courier} at {slot}", f"{count} requests hold it without a booking")
        for (courier, slot), count in taken.items()
        if (courier, slot) not in booked_slots
    ]
    return problems
