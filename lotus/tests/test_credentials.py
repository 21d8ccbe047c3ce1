"""Credentials in a query string are refused (400) before any view runs; the seed's
query-string parameters still pass."""

import pytest

from lotus.credentials import credential_parameters
from lotus.testing import api_client, token_for

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.mark.parametrize(
    "name",
    [
        "token", "access", "refresh", "password", "jwt", "api_key", "apikey", "secret", "access_token",
        "refresh_token", "id_token", "X-Api-Key", "newPassword", "client_secret", "Authorization", "bearer",
        "PASSWORD", "sessionid", "auth", "pwd", "private_key",
    ],
)  # fmt: skip
def test_credential_looking_names_are_found(name):
    assert credential_parameters([name]) == [name]


@pytest.mark.parametrize("name", ["money", "idSubscription", "count", "idOrder", "date", "deliverySlot", "email", "q"])
def test_the_seeds_parameters_are_not_credentials(name):
    assert credential_parameters([name]) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/profile/me?access={token}"),
        ("get", "/billing/balance?token={token}"),
        ("post", "/billing/add-money?money=10&jwt={token}"),
        ("get", "/order?api_key=k"),
        ("get", "/notification?Access_Token={token}"),
        ("get", "/stock/add?idSubscription=2&count=1&access={token}"),
        ("put", "/delivery/accept?idOrder=1&secret=s"),
        ("post", "/profile/refresh?refresh={token}"),
        ("get", "/healthz?password=p"),
    ],
)
def test_a_credential_in_the_query_string_is_400_json_and_nothing_runs(method, path):
    """Even with a valid bearer token in the header, and on any path."""
    client = api_client(7, is_staff=True)
    response = getattr(client, method)(path.format(token=token_for(7, is_staff=True)))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (400, "credentials_in_query")
    assert error["details"]["parameters"]
    assert "query string" in error["message"]


def test_nothing_is_applied_when_refused():
    client = api_client(8)
    assert client.post("/billing/add-money?money=5").status_code == 200
    assert client.post(f"/billing/add-money?money=100&access={token_for(8)}").status_code == 400
    assert client.post("/billing/add-money?money=100&password=x", {"money": 100}, format="json").status_code == 400
    assert client.get("/billing/balance").json()["balance"] == 5
