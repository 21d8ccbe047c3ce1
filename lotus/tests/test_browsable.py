"""The browsable API, the OpenAPI schema and Swagger UI."""

import pytest

pytestmark = pytest.mark.django_db(databases="__all__")


def test_the_schema_and_swagger_ui_are_served(client):
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    document = schema.json()
    paths = document["paths"]
    assert "/order/place" in paths
    place = paths["/order/place"]["post"]
    assert "202" in place["responses"]
    assert place["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("PlaceOrderInputRequest")
    assert {"idSubscription", "deliverySlot"} <= set(
        document["components"]["schemas"]["PlaceOrderInputRequest"]["properties"]
    )
    notification_parameters = {p["name"] for p in paths["/notification"]["get"]["parameters"]}
    assert "orderId" in notification_parameters
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_the_browsable_api_renders_for_a_signed_in_customer(client, django_user_model):
    customer = django_user_model.objects.create_user("browser@lotus.test", "a-long-browser-password")
    client.force_login(customer)
    response = client.get("/order", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Order List" in response.content
