"""The browsable API, the OpenAPI schema and Swagger UI."""

import pytest

pytestmark = pytest.mark.django_db(databases="__all__")


def test_the_schema_and_swagger_ui_are_served(client):
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/order/place" in paths
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_the_browsable_api_renders_for_a_signed_in_customer(client, django_user_model):
    customer = django_user_model.objects.create_user("browser@lotus.test", "a-long-browser-password")
    client.force_login(customer)
    response = client.get("/order", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Order List" in response.content
