"""HTTP API of the billing service."""

from django.urls import path

from billing import apis

urlpatterns = [
    path("billing/add-money", apis.AddMoneyApi.as_view(), name="billing-add-money"),
    path("billing/balance", apis.BalanceApi.as_view(), name="billing-balance"),
]
