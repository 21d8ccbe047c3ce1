"""The OpenAPI document tells the truth about errors: every operation lists each error status it
can answer, each with the one error body (lotus.errors.error_body), and a view's throttles,
pagination and declared statuses reach the document without schema code of its own."""

import pytest
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from lotus.auth import IsOperator
from lotus.errors import error_body
from lotus.testing import api_client

pytestmark = pytest.mark.django_db(databases="__all__")

ERROR_BODY = "#/components/schemas/ErrorBody"

# What each operation can answer besides success, and why (the views and services say so):
# 400 everywhere (a credential in the query string), 429 where a view is throttled.
EXPECTED_ERRORS = {
    ("post", "/profile/register"): {400, 413, 415, 429},
    ("post", "/profile/login"): {400, 401, 413, 415, 429},
    ("post", "/profile/refresh"): {400, 401, 413, 415},
    ("post", "/profile/logout"): {400, 401, 413, 415},
    ("get", "/profile/me"): {400, 401, 404},
    ("post", "/billing/add-money"): {400, 401, 413, 415, 422, 429},
    ("get", "/billing/balance"): {400, 401},
    ("post", "/order/place"): {400, 401, 413, 415, 422, 429},
    ("get", "/order"): {400, 401, 414},
    ("get", "/order/{order_id}"): {400, 401, 404, 414},
    ("post", "/order/{order_id}/cancel"): {400, 401, 404, 409, 414},
    ("get", "/notification"): {400, 401, 414},
    ("get", "/stock"): {400, 401},
    ("get", "/stock/add"): {400, 401, 403, 404, 414},
    ("post", "/stock/add"): {400, 401, 403, 404, 413, 415},
    ("put", "/delivery/accept"): {400, 401, 403, 404, 409, 413, 415},
    ("post", "/delivery/accept"): {400, 401, 403, 404, 409, 413, 415},
    ("get", "/delivery/slots"): {400, 401, 414},
}


@pytest.fixture(scope="module")
def document(django_db_blocker):
    with django_db_blocker.unblock():
        response = api_client(1).get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def operations(document):
    for route, item in document["paths"].items():
        for method, operation in item.items():
            yield (method, route), operation


def test_every_operation_documents_each_error_status_it_can_answer_with_the_error_body(document):
    documented = {}
    for key, operation in operations(document):
        errors = {int(status) for status in operation["responses"] if not status.startswith("2")}
        documented[key] = errors
        for status in errors:
            content = operation["responses"][str(status)]["content"]
            assert content == {"application/json": {"schema": {"$ref": ERROR_BODY}}}, (key, status)
            assert operation["responses"][str(status)]["description"]
        if 401 in errors and operation.get("security") != [{}]:
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert documented == EXPECTED_ERRORS


def test_the_error_body_schema_is_the_shape_error_body_returns(document):
    schemas = document["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    error = schemas["Error"]
    assert set(error["required"]) == {"status", "code", "message"}
    assert set(error["properties"]) == set(error_body(409, "conflict", "m", {"x": 1})["error"])


def test_bodies_admit_only_their_fields_and_the_api_refuses_the_others(document, django_db_blocker):
    request_bodies = [op["requestBody"] for _, op in operations(document) if "requestBody" in op]
    assert request_bodies
    for body in request_bodies:
        reference = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert document["components"]["schemas"][reference]["additionalProperties"] is False, reference
    client = api_client(31)
    response = client.post("/billing/add-money", {"money": 5, "mony": 5}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"mony": ["Unknown field."]}
    assert client.get("/billing/balance").json()["balance"] == 0


def test_a_json_number_is_not_taken_for_a_string():
    response = api_client(None).post(
        "/profile/register", {"email": "digits@lotus.test", "password": 48151623421088}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"password": ["Not a valid string."]}


def test_constraints_the_api_enforces_are_in_the_document(document):
    schemas = document["components"]["schemas"]
    password = schemas["RegisterInputRequest"]["properties"]["password"]
    assert password["minLength"] == 8
    assert schemas["AddMoneyInputRequest"]["properties"]["money"]["multipleOf"] == 0.01
    slots = document["paths"]["/delivery/slots"]["get"]
    assert slots["parameters"][0]["name"] == "date"
    assert slots["parameters"][0]["required"] is True
    assert {"date", "slots"} <= set(schemas["SlotBoardOutput"]["required"])
    place = document["paths"]["/order/place"]["post"]
    assert [p["name"] for p in place["parameters"]] == ["Idempotency-Key"]


def test_the_stateful_fuzzer_has_links_to_follow_from_a_placed_order(document):
    links = document["paths"]["/order/place"]["post"]["responses"]["202"]["links"]
    assert set(links) == {"GetOrder", "CancelOrder", "ListNotifications", "AcceptDelivery"}
    assert links["AcceptDelivery"]["requestBody"] == {"idOrder": "$response.body#/orderId"}
    targets = {f"#/paths/{route.replace('/', '~1')}/{method}" for (method, route), _ in operations(document)}
    assert {link["operationRef"] for link in links.values()} <= targets


class _Throttle(SimpleRateThrottle):
    rate = "5/minute"


class _Page(LimitOffsetPagination):
    default_limit = 10


class _ThrottledPagedApi(APIView):
    """A list with throttles, pagination and a declared status: what other features will add."""

    permission_classes = [IsAuthenticated, IsOperator]
    throttle_classes = [_Throttle]
    pagination_class = _Page
    output_many = True
    error_statuses = {409: "Busy."}

    class InputSerializer(serializers.Serializer):
        after = serializers.IntegerField(required=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()

    def get(self, request):
        return Response([])


class _LogoutLikeApi(APIView):
    """A view that takes input and answers no body."""

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    def post(self, request):
        return Response(status=204)


def test_a_view_without_output_answers_204_without_a_body():
    generator = SchemaGenerator(patterns=[path("logout", _LogoutLikeApi.as_view())])
    responses = generator.get_schema(request=None, public=True)["paths"]["/logout"]["post"]["responses"]
    assert set(responses) == {"204", "400", "401", "413", "415"}
    assert "content" not in responses["204"]


def test_throttles_pagination_and_declared_statuses_are_documented_without_schema_code():
    generator = SchemaGenerator(patterns=[path("things", _ThrottledPagedApi.as_view())])
    operation = generator.get_schema(request=None, public=True)["paths"]["/things"]["get"]
    responses = operation["responses"]
    assert set(responses) == {"200", "400", "401", "403", "409", "414", "429"}
    assert "Retry-After" in responses["429"]["headers"]
    assert "Link" in responses["200"]["headers"]
    assert responses["409"]["description"] == "Busy."
    assert {"after", "limit", "offset"} <= {p["name"] for p in operation["parameters"]}
