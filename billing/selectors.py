"""Reads of the billing service."""

from billing.models import Account, Charge, LedgerEntry

LEDGER_LINES = 50


def account_summary(*, customer_id: int) -> dict:
    """Balance, the latest ledger lines (oldest first) and the charges waiting for money."""
    account = Account.objects.filter(customer_id=customer_id).first()
    if account is None:
        return {"customer_id": customer_id, "balance": 0, "ledger": [], "waiting": []}
    latest = list(LedgerEntry.objects.filter(account=account).order_by("-id")[:LEDGER_LINES])[::-1]
    waiting = list(Charge.objects.filter(account=account, status=Charge.Status.WAITING).order_by("id"))
    return {"customer_id": customer_id, "balance": account.balance, "ledger": latest, "waiting": waiting}
