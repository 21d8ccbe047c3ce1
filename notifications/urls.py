"""HTTP API of the notifications service."""

urlpatterns: list = []
