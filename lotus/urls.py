"""URLs of the web process: health, admin, the API documents, and the API of each service it serves."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from lotus import asyncapi, health, metrics
from lotus.conf import lotus_settings

handler400 = "lotus.errors.bad_request_view"
handler404 = "lotus.errors.not_found_view"
handler500 = "lotus.errors.server_error_view"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # The saga pages read every service's database (the sagas app); the admin site guards them.
    path("admin/sagas/", include("sagas.urls")),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("django_prometheus.urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # The messages between the services (Kafka), as the schema above is the HTTP API.
    path("api/asyncapi.json", asyncapi.document_view, name="asyncapi-document"),
    path("api/asyncapi", asyncapi.page_view, name="asyncapi"),
]
urlpatterns += [path("", include(f"{service}.urls")) for service in lotus_settings.SERVICES]

metrics.register_collectors(list(lotus_settings.SERVICES))
