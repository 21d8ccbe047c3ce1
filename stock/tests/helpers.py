"""Checks shared by the stock tests: the counters always balance with the reservations."""

from django.db.models import Sum

from stock.models import Reservation, StockItem


def assert_stock_balances() -> None:
    """on_hand + reserved == received for every product, nothing negative, and ``reserved``
    equals the quantities of the product's reservations in state ``reserved``."""
    for stock in StockItem.objects.all():
        assert stock.on_hand >= 0, stock
        assert stock.reserved >= 0, stock
        assert stock.on_hand + stock.reserved == stock.received, stock
        held = Reservation.objects.filter(product_id=stock.product_id, status=Reservation.Status.RESERVED).aggregate(
            total=Sum("quantity")
        )["total"]
        assert stock.reserved == (held or 0), (stock, held)


def item(product_id: int) -> StockItem:
    return StockItem.objects.get(product_id=product_id)


def counters(product_id: int) -> tuple[int, int, int]:
    """(on_hand, reserved, received) of the product."""
    stock = item(product_id)
    return stock.on_hand, stock.reserved, stock.received


def status_of(order_id) -> str:
    return Reservation.objects.get(order_id=order_id).status
