"""WSGI entry point: ``gunicorn lotus.wsgi``.

Tracing (:mod:`lotus.tracing`) is set up before the application loads its middleware, so that
the Django instrumentation can add its own; it does nothing unless ``OTEL_TRACES_EXPORTER``
names an exporter."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lotus.settings")

from lotus import tracing
from lotus.conf import lotus_settings

tracing.setup(role="web", services=lotus_settings.SERVICES)

application = get_wsgi_application()

from lotus.runtime import settle_heap  # noqa: E402 -- once Django and the apps are loaded

settle_heap()
