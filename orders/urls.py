"""HTTP API of the orders service."""

from django.urls import path

from orders import apis

urlpatterns = [
    path("order/place", apis.PlaceOrderApi.as_view(), name="order-place"),
    path("order", apis.OrderListApi.as_view(), name="order-list"),
    path("order/<uuid:order_id>", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("order/<uuid:order_id>/cancel", apis.CancelOrderApi.as_view(), name="order-cancel"),
]
