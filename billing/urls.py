"""HTTP API of the billing service."""

urlpatterns: list = []
