"""HTTP API of the notifications service."""

from django.urls import path

from notifications import apis

urlpatterns = [
    path("notification", apis.NotificationListApi.as_view(), name="notification-list"),
]
