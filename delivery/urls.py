"""HTTP API of the delivery service."""

from django.urls import path

from delivery import apis

urlpatterns = [
    path("delivery/accept", apis.AcceptDeliveryApi.as_view(), name="delivery-accept"),
    path("delivery/slots", apis.SlotBoardApi.as_view(), name="delivery-slots"),
]
