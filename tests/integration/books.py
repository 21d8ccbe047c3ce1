"""Invariants that must hold after anything that touches money, stock or couriers: the
reconciliation's own checks of ledgers, stock counters and courier slots
(:mod:`reconciliation.checks`), read in one snapshot per database."""

from reconciliation.checks import Evidence, ledgers, slot_counters, stock_counters


def assert_books_balance() -> None:
    evidence = Evidence.read(grace=0)
    problems = [d.line() for check in (ledgers, stock_counters, slot_counters) for d in check(evidence)]
    assert not problems, "\n".join(problems)
