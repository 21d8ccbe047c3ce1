"""Invariants that must hold after anything that touches money, stock or couriers."""

from django.db.models import Sum

from billing.models import Account, LedgerEntry
from delivery.models import DeliveryRequest, SlotBooking
from stock.models import StockItem


def assert_books_balance() -> None:
    for account in Account.objects.all():
        total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or 0
        assert account.balance == total, f"account {account.customer_id}: balance {account.balance} != ledger {total}"
        assert account.balance >= 0
    for item in StockItem.objects.all():
        assert item.on_hand + item.reserved == item.received, f"product {item.product_id} does not balance"
    for booking in SlotBooking.objects.select_related("courier"):
        carried = DeliveryRequest.objects.filter(status="reserved", courier_id=booking.courier_id, slot=booking.slot)
        assert booking.booked == carried.count(), f"{booking}: booked != reserved requests"
        assert booking.booked <= booking.courier.capacity_per_slot
