"""OpenAPI schema generation (drf-spectacular) from the house style of the API views.

Every view declares a nested ``InputSerializer`` and an ``OutputSerializer`` (or points the
attribute at a shared one). :class:`AutoSchema` documents the input as the request body of
POST/PUT (the seed's query-string parameters are accepted as well) or as the query parameters
of GET, and the output as the response, under ``success_status`` (200 unless the view says
201 or 202); ``output_many = True`` marks list responses. :class:`BearerTokenScheme` documents
``Authorization: Bearer <access>``.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def _input(self):
        return getattr(self.view, "InputSerializer", None)

    def get_request_serializer(self):
        return self._input() if self.method in ("POST", "PUT", "PATCH") else None

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "GET" and self._input() is not None:
            parameters = [*parameters, self._input()]
        return parameters

    def get_serializer_name(self, serializer, direction):
        # Nested serializers share names (every view has an InputSerializer): prefix the view's.
        name = super().get_serializer_name(serializer, direction)
        parts = type(serializer).__qualname__.split(".")
        views = [part.removesuffix("Api") for part in parts[:-1] if part.endswith("Api")]
        return f"{views[0]}{name}" if views else name

    def get_response_serializers(self):
        output = getattr(self.view, "OutputSerializer", None)
        if output is None:
            return super().get_response_serializers()
        serializer = output(many=True) if getattr(self.view, "output_many", False) else output
        return {getattr(self.view, "success_status", 200): serializer}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "lotus.auth.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
