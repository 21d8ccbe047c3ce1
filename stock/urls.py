"""HTTP API of the stock service."""

urlpatterns: list = []
