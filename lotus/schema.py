"""OpenAPI schema generation (drf-spectacular) from the house style of the API views.

The document is what the fuzzer (schemathesis, ``scripts/fuzz.sh``) holds the API to, so it
must state every answer an operation can give, not only the happy one. It is derived from
what the views already declare, so that a new view, a throttle or a pagination class is
documented without anyone writing schema code:

* Every view declares a nested ``InputSerializer`` and an ``OutputSerializer`` (or points the
  attribute at a shared one). The input is the request body of POST/PUT (the seed's
  query-string parameters are accepted as well, and left out of the document) or the query
  parameters of GET; a request body admits no other property (the API refuses unknown body
  fields, :func:`lotus.api.request_data`). The output is the response under ``success_status``
  (200 unless the view says 201 or 202; a view without output answers no body, 204 unless it
  says otherwise); ``output_many = True`` marks list responses and
  ``success_headers`` (name → description) the headers it carries. A field class states in
  ``openapi`` (a dict merged into its schema) the rules its validation applies beyond its
  arguments; a DecimalField's decimal places become ``multipleOf``.
* The error answers, all with the one body of :func:`lotus.errors.error_body`
  (:class:`ErrorBodySerializer`), follow from the view (:meth:`AutoSchema.error_statuses`):
  400 when the operation takes input, 401 when it needs a token, 403 when a permission beyond
  "signed in" guards it, 404 when its path names a resource, 414 when its URL carries input
  (path or query parameters), 413 and 415 when it reads a body,
  422 with ``Idempotency-Key`` (:func:`lotus.idempotency.decorators.idempotent`), 429 with
  ``Retry-After`` when it has throttles, and whatever the view adds in ``error_statuses``
  (status → when), e.g. ``{409: "The order can no longer be cancelled."}``.
* ``response_links`` (name → OpenAPI link, ``operationRef`` by path) on a view become the links
  of its success response, which the fuzzer's stateful phase follows (an order placed, then
  read, cancelled, accepted); :func:`drop_dangling_links` removes those to operations that the
  process does not serve.
* A view with a DRF ``pagination_class`` gets its paginator's query parameters and a ``Link``
  header (RFC 8288) on its list response.

:class:`BearerTokenScheme` documents ``Authorization: Bearer <access>``, the API's one scheme
(the session of the browsable API is left out: ``AUTHENTICATION_WHITELIST``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import permissions, serializers

from lotus.idempotency.decorators import MAX_KEY_LENGTH

# Why an operation answers each error status when its view does not say more.
ERROR_DESCRIPTIONS = {
    400: "Invalid input (`message` says what is wrong, `details` names each field's errors), or a "
    "credential in the query string (code `credentials_in_query`).",
    401: "No valid access token (`Authorization: Bearer <access>`), or wrong credentials.",
    403: "The token is valid but its holder may not do this (an operator-only operation).",
    404: "No such resource, or not one of the caller's.",
    409: "The resource is in a state that does not allow this.",
    413: "The request body is larger than the API accepts.",
    414: "The URL is longer than the server reads (about 4 KB with its query string).",
    415: "The request body is neither JSON nor a form.",
    422: "The `Idempotency-Key` was already used for a different request.",
    429: "Too many requests: try again after `Retry-After` seconds.",
}

# What DRF's CharField strips (str.strip(): Python's whitespace), spelled for a JSON schema
# pattern; a field that trims and may not be blank needs one character outside it.
_WHITESPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# DRF's CharField refuses NUL characters.
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = rf"^[^\u0000]*[^\u0000{_WHITESPACE}][^\u0000]*$"

# Permission classes that only say "anyone" or "signed in"; any other one can answer 403.
_AUTHENTICATION_ONLY = (permissions.AllowAny, permissions.IsAuthenticated)


class ErrorSerializer(serializers.Serializer):
    status = serializers.IntegerField(min_value=400, max_value=599, help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. `invalid`, `not_found`, `conflict`.")
    message = serializers.CharField(help_text="What went wrong, for a person.")
    details = serializers.JSONField(
        required=False, help_text="Validation errors per field (an object of lists), or other structured detail."
    )


class ErrorBodySerializer(serializers.Serializer):
    """The body of every error answer (:func:`lotus.errors.error_body`)."""

    error = ErrorSerializer()


class AutoSchema(SpectacularAutoSchema):
    def _input(self):
        return getattr(self.view, "InputSerializer", None)

    def _handler(self):
        return getattr(self.view, self.method.lower(), None)

    def _idempotency_header(self) -> str | None:
        return getattr(self._handler(), "idempotency_header", None)

    def _paginator(self):
        pagination_class = getattr(self.view, "pagination_class", None)
        return pagination_class() if pagination_class is not None else None

    def _has_body(self) -> bool:
        return self.get_request_serializer() is not None

    def get_request_serializer(self):
        return self._input() if self.method in ("POST", "PUT", "PATCH") else None

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "GET" and self._input() is not None:
            parameters.append(self._input())
        header = self._idempotency_header()
        if header:
            parameters.append(
                OpenApiParameter(
                    header,
                    str,
                    OpenApiParameter.HEADER,
                    description=f"Any string of 1 to {MAX_KEY_LENGTH} characters. A repeated request with the same key "
                    "answers the stored response of the first (`Idempotent-Replayed: true`) instead of "
                    "acting twice; the same key with a different request answers 422.",
                )
            )
        return parameters

    def _get_parameters(self):
        parameters = super()._get_parameters()
        paginator = self._paginator()
        if paginator is not None and self.method == "GET":
            known = {(p["name"], p["in"]) for p in parameters}
            parameters += [
                p for p in paginator.get_schema_operation_parameters(self.view) if (p["name"], p["in"]) not in known
            ]
        header = self._idempotency_header()
        for parameter in parameters:
            if parameter["in"] == "header" and parameter["name"] == header:
                parameter["schema"].update(minLength=1, maxLength=MAX_KEY_LENGTH, pattern=f"[^{_WHITESPACE}]")
        return parameters

    def get_serializer_name(self, serializer, direction):
        # Nested serializers share names (every view has an InputSerializer): prefix the view's.
        name = super().get_serializer_name(serializer, direction)
        parts = type(serializer).__qualname__.split(".")
        views = [part.removesuffix("Api") for part in parts[:-1] if part.endswith("Api")]
        return f"{views[0]}{name}" if views else name

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request":
            return schema
        if isinstance(field, serializers.DecimalField) and field.decimal_places is not None:
            # Money has cents and no more: 0.001 is refused, so the document says so.
            schema["multipleOf"] = float(Decimal(1).scaleb(-field.decimal_places))
        if isinstance(field, serializers.CharField) and "format" not in schema:
            # What DRF's CharField refuses beyond its length: NUL, and only whitespace when it trims.
            schema.setdefault("pattern", NOT_BLANK if field.trim_whitespace and not field.allow_blank else NO_NUL)
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # A field states what its own validation demands beyond its arguments (a pattern, a length).
        schema.update(getattr(field, "openapi", {}))

    def _postprocess_serializer_schema(self, schema, serializer, direction):
        schema = super()._postprocess_serializer_schema(schema, serializer, direction)
        if direction == "request" and self._has_body() and type(serializer) is self._input():
            schema["additionalProperties"] = False
        return schema

    def get_response_serializers(self):
        output = getattr(self.view, "OutputSerializer", None)
        if output is None:
            # A view without output answers no body (e.g. 204) under its success_status.
            return {getattr(self.view, "success_status", 204): None}
        serializer = output(many=True) if getattr(self.view, "output_many", False) else output
        return {getattr(self.view, "success_status", 200): serializer}

    def error_statuses(self) -> dict[int, str]:
        """Every error status this operation can answer, with when (see the module docstring)."""
        statuses: dict[int, str] = {}
        permission_classes = [type(permission) for permission in self.view.get_permissions()]
        # Any operation: a credential in the query string is refused (lotus.credentials).
        statuses[400] = ERROR_DESCRIPTIONS[400]
        if permission_classes and permissions.AllowAny not in permission_classes:
            statuses[401] = ERROR_DESCRIPTIONS[401]
        if any(not issubclass(cls, _AUTHENTICATION_ONLY) for cls in permission_classes):
            statuses[403] = ERROR_DESCRIPTIONS[403]
        if "{" in self.path:
            statuses[404] = ERROR_DESCRIPTIONS[404]
        if "{" in self.path or (self.method == "GET" and (self._input() is not None or self._paginator() is not None)):
            statuses[414] = ERROR_DESCRIPTIONS[414]
        if self._has_body():
            statuses[413] = ERROR_DESCRIPTIONS[413]
            statuses[415] = ERROR_DESCRIPTIONS[415]
        if self._idempotency_header():
            statuses[422] = ERROR_DESCRIPTIONS[422]
        if self.view.get_throttles():
            statuses[429] = ERROR_DESCRIPTIONS[429]
        declared = getattr(self.view, "error_statuses", {})
        if not isinstance(declared, dict):
            declared = {status: ERROR_DESCRIPTIONS.get(status, "") for status in declared}
        statuses.update(declared)
        return dict(sorted(statuses.items()))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        success = [code for code in responses if code.startswith("2")]
        for code in success:
            responses[code].setdefault("headers", {}).update(self._success_headers())
            if not responses[code]["headers"]:
                del responses[code]["headers"]
            links = getattr(self.view, "response_links", None)
            if links:
                responses[code]["links"] = {name: dict(link) for name, link in links.items()}
        error = self.resolve_serializer(ErrorBodySerializer, "response").ref
        for status, description in self.error_statuses().items():
            response: dict[str, Any] = {
                "description": description,
                "content": {"application/json": {"schema": error}},
            }
            headers = self._error_headers(status)
            if headers:
                response["headers"] = headers
            responses.setdefault(str(status), response)
        return responses

    def _success_headers(self) -> dict[str, Any]:
        headers = dict(getattr(self.view, "success_headers", {}))
        if self._paginator() is not None and self.method == "GET":
            headers.setdefault("Link", 'The next page, if any: `<url>; rel="next"` (RFC 8288).')
        if self._idempotency_header():
            headers.setdefault("Idempotent-Replayed", "`true` when this is the stored answer to an earlier request.")
        return {name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()}

    def _error_headers(self, status: int) -> dict[str, Any]:
        if status == 401:
            text = "`Bearer`, when the request carried no valid access token."
            return {"WWW-Authenticate": {"description": text, "schema": {"type": "string"}}}
        if status == 429:
            text = "Seconds to wait before trying again."
            return {"Retry-After": {"description": text, "schema": {"type": "integer", "minimum": 0}}}
        return {}


def operation_ref(method: str, route: str) -> str:
    """The JSON pointer of an operation in the document, for a link's ``operationRef``."""
    return "#/paths/" + route.replace("~", "~0").replace("/", "~1") + "/" + method.lower()


def drop_dangling_links(result, generator, request, public):
    """A ``POSTPROCESSING_HOOKS`` entry: a process serving some services documents only their
    operations, so links to the others' operations go."""
    targets = {operation_ref(method, route) for route, item in result["paths"].items() for method in item}
    for item in result["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                links = response.get("links", {})
                for name in [name for name, link in links.items() if link["operationRef"] not in targets]:
                    del links[name]
                if "links" in response and not links:
                    del response["links"]
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "lotus.auth.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
