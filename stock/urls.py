"""HTTP API of the stock service."""

from django.urls import path

from stock import apis

urlpatterns = [
    path("stock", apis.StockListApi.as_view(), name="stock-list"),
    path("stock/add", apis.AddStockApi.as_view(), name="stock-add"),
]
