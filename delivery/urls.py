"""HTTP API of the delivery service."""

urlpatterns: list = []
