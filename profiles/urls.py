"""HTTP API of the profiles service."""

urlpatterns: list = []
