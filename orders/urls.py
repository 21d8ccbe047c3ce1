"""HTTP API of the orders service."""

urlpatterns: list = []
