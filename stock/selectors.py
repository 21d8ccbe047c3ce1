"""Reads of the stock service."""

from django.db.models import QuerySet

from stock.models import StockItem


def stock_item_list() -> QuerySet[StockItem]:
    return StockItem.objects.order_by("product_id")
