"""Helpers for the services' API views.

The seed's API passes parameters in the query string (``POST /billing/add-money?money=1000``);
a JSON body is accepted too. :func:`request_data` merges both (the body wins), so an input
serializer validates one dict whatever way the client chose. A body field the serializer does
not know is refused (400) rather than ignored: a misspelt optional field would otherwise be
dropped without a word, and the OpenAPI document says ``additionalProperties: false``::

    class AddMoneyApi(APIView):
        class InputSerializer(serializers.Serializer):
            money = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))

        def post(self, request):
            data = validated(self.InputSerializer, request)
            ...
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request


def request_data(request: Request) -> dict[str, Any]:
    """Query-string parameters overlaid with the request body (JSON or form)."""
    data: dict[str, Any] = {key: request.query_params.get(key) for key in request.query_params}
    body = request.data  # raises ParseError (a JSON 400) on malformed JSON
    if isinstance(body, dict):
        data.update(body.items() if not hasattr(body, "dict") else body.dict().items())
    elif body:
        raise serializers.ValidationError({"non_field_errors": ["The request body must be a JSON object."]})
    return data


def validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validate the request's parameters with ``serializer_class``; 400 with field errors if invalid."""
    serializer = serializer_class(data=request_data(request))
    unknown = sorted(set(_body_fields(request)) - set(serializer.fields))
    if unknown:
        raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
    # DRF's CharField takes a JSON number as its digits; the document says string, so do we.
    not_text = [
        name
        for name, value in (request.data.items() if isinstance(request.data, dict) else [])
        if isinstance(serializer.fields[name], serializers.CharField)
        and value is not None
        and not isinstance(value, str)
    ]
    if not_text:
        raise serializers.ValidationError({name: ["Not a valid string."] for name in not_text})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _body_fields(request: Request) -> list[str]:
    body = request.data
    return [str(name) for name in body] if isinstance(body, dict) else []  # a form's QueryDict is a dict too
