from django.db.models import Sum

from billing.models import Account, LedgerEntry


def assert_ledgers_balance() -> None:
    """Every account's ledger sums to its balance, and no balance is negative."""
    for account in Account.objects.all():
        total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or 0
        assert account.balance == total, f"customer {account.customer_id}: {account.balance} != ledger {total}"
        assert account.balance >= 0
